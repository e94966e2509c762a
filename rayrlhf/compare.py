"""``rayrlhf compare``: every method for every seed, with the same label budget, then the report.

Methods are ``transfer.mode`` values (``ucb``, ``none``, ``fixed:<source>``). All runs share one set of
workers (the built task, the vLLM engine, the reward and oracle actors, the learner's Ray Train workers) and
the initial policy's evaluation samples; between runs the engine and the learner are reset to the initial
policy. On one machine the runs go one after another, so they never compete for the same cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rayrlhf.config import Config, ConfigError, dump_config


def method_dir(method: str) -> str:
    return method.replace(":", "_")


def run_compare(cfg: Config, methods: list[str], seeds: int, out_dir: str | None = None, log=print) -> Path:
    from rayrlhf.pipeline import Pipeline, Workers, new_run_dir, run_iterations
    from rayrlhf.report import write_report
    from rayrlhf.task.build import resolve_model

    root = Path(out_dir or cfg.run.output_dir)
    if (root / "compare.json").exists():
        raise ConfigError(f"{root} already holds a comparison; choose another run.output_dir")
    configs = {}
    for m in methods:
        try:
            configs[m] = Config.model_validate({**cfg.model_dump(), "transfer": {**cfg.transfer.model_dump(), "mode": m}})
        except Exception as exc:
            raise ConfigError(f"--methods: {m!r} is not a valid transfer.mode ({exc})") from None
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(dump_config(cfg))
    meta = {"methods": methods, "seeds": list(range(cfg.run.seed, cfg.run.seed + seeds)), "runs": {}, "started": time.time()}
    if cfg.data.dataset == "builtin" and cfg.policy.model == "builtin":
        from rayrlhf.reward_eval import evaluate_sources, task_pairs

        pairs, info = task_pairs(cfg, log)
        quality = {"sample": info, "sources": evaluate_sources(cfg, pairs, log)}
        (root / "source_quality.json").write_text(json.dumps(quality, indent=1))
    init_dir = resolve_model(cfg.policy.model, cfg.task)
    workers = Workers(cfg, init_dir, init_dir, root / "ray_train")
    eval_init = None
    try:
        first = True
        for seed in meta["seeds"]:
            for m in methods:
                run_cfg = configs[m].model_copy(update={"run": cfg.run.model_copy(update={"seed": seed})})
                rel = f"{method_dir(m)}/seed_{seed}"
                run = new_run_dir(run_cfg, root / rel)
                if not first:
                    workers.reset(init_dir)
                first = False
                t0 = time.perf_counter()
                pipe = Pipeline(run_cfg, run, resume=False, workers=workers, eval_init=eval_init)
                eval_init = pipe.eval_init
                log(f"[compare] {m} seed {seed}")
                run_iterations(pipe, 0, log)
                meta["runs"][rel] = {"method": m, "seed": seed, "wall_s": time.perf_counter() - t0}
                (root / "compare.json").write_text(json.dumps(meta, indent=1))
    finally:
        workers.close()
    meta["startup_s"] = workers.startup_s
    meta["wall_s"] = time.time() - meta["started"]
    (root / "compare.json").write_text(json.dumps(meta, indent=1))
    write_report(root)
    return root
