"""``rayrlhf train``: start or resume a run directory and run its iterations (the loop is :mod:`rayrlhf.run.loop`).

A run stops in one of three ways besides finishing, each leaving everything paid for on disk and each continued by
``rayrlhf train --resume RUN_DIR``: a stage fails or times out (:class:`rayrlhf.core.faults.StageError`), SIGTERM
arrives (it is honoured between rounds), or ``oracle.budget`` runs out (:class:`rayrlhf.core.faults.BudgetSpent`;
resume with ``oracle.budget=<more>``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rayrlhf.config import Config, ConfigError, apply_overrides, dump_config, load_config
from rayrlhf.config.scopes import RESUMABLE, keys_in_scope
from rayrlhf.core import logs
from rayrlhf.core.durable import write_text_atomic
from rayrlhf.core.run_dir import RunDir
from rayrlhf.run import tracking


def new_run_dir(cfg: Config, path: str | Path) -> RunDir:
    run = RunDir(path)
    if (run.root / "config.yaml").exists():
        raise ConfigError(f"{run.root} already holds a run: continue it with `rayrlhf train --resume {run.root}`, "
                          "or choose another run.output_dir")
    run.root.mkdir(parents=True, exist_ok=True)
    run.lock()
    write_text_atomic(run.root / "config.yaml", dump_config(cfg))
    return run


def resume_config(run: RunDir, overrides: list[str], shown: str | None = None) -> Config:
    """The run's own config, with ``overrides`` of the keys marked ``RESUMABLE`` (limits, not what the ledger's
    answers or the rounds mean; saved back to config.yaml)."""
    import yaml

    path = run.root / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"--resume {shown or run.root}: no config.yaml there; is it a rayrlhf run directory?")
    if not overrides:
        return load_config(path)
    resumable = keys_in_scope(Config, RESUMABLE)
    bad = [o for o in overrides if not any(o.split("=", 1)[0] == k or o.startswith(k + ".") for k in resumable)]
    if bad:
        raise ConfigError(f"--resume takes the run's own config; only {', '.join(resumable)} may change (got "
                          f"{', '.join(bad)}): other keys would change what the saved rounds and the ledger's answers "
                          "mean. Start a new run for those")
    raw = apply_overrides(yaml.safe_load(path.read_text()), overrides)
    try:
        cfg = Config.model_validate(raw)
    except Exception as exc:
        raise ConfigError(f"--resume overrides: {exc}") from None
    return cfg


def train(cfg: Config | None, run_dir: str | None = None, resume: bool = False, log=print,
          overrides: list[str] | None = None) -> list[dict]:
    """The one entry of ``rayrlhf train`` (the CLI and the Python API): validates and preflights a new run (or
    checks a resumed run's overrides), makes or locks its directory, then runs its iterations; returns the
    metrics rows written. Nothing heavy (torch, Ray, vLLM) is imported before the checks pass."""
    from rayrlhf.core.faults import install_stop_handler
    from rayrlhf.run.loop import Pipeline

    if resume:
        run = RunDir(run_dir)
        cfg = resume_config(run, overrides or [], shown=run_dir)
        run.lock()
        write_text_atomic(run.root / "config.yaml", dump_config(cfg))
    else:
        assert cfg is not None
        tracking.enabled(cfg.tracking)  # a missing tracker package fails before the run directory exists
        from rayrlhf.run.preflight import preflight

        preflight(cfg, run_dir or cfg.run.output_dir)  # data and models too: bad input leaves no run directory
        run = new_run_dir(cfg, run_dir or cfg.run.output_dir)
    try:
        done = run.resume_point()
        if not logs.verbose():
            log(f"[train] third-party and actor logs: {run.root / 'logs'} (--verbose shows them here)")
        with logs.run_logs(run.root / "logs"):
            pipe = Pipeline(cfg, run, resume)
            install_stop_handler()  # after ray.init, which installs its own
            try:
                rows = run_iterations(pipe, done, log)
            except BaseException as exc:
                run.set_status("stopped", error=f"{type(exc).__name__}: {exc}")
                raise
            finally:
                pipe.close()
    finally:
        run.unlock()
    shutil.rmtree(run.root / "ray_train", ignore_errors=True)
    return rows


def samples_markdown(rows: list[dict]) -> str:
    """A markdown table of held-out samples (TensorBoard's text tab, the trackers)."""
    def cell(text) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    return "\n".join(["| prompt (end) | response | oracle score |", "|---|---|---|",
                      *[f"| {cell(r['prompt'][-120:])} | {cell(r['response'])} | {r['oracle_score']:.2f} |" for r in rows]])


def _win_rate_text(row: dict) -> str:
    if "eval/win_rate_vs_init" not in row:
        return "not evaluated (eval.every)"
    return (f"win rate vs init {row['eval/win_rate_vs_init']:.3f} "
            f"[{row['eval/win_rate_vs_init_ci_low']:.3f}, {row['eval/win_rate_vs_init_ci_high']:.3f}]")


def run_iterations(pipe, done: int, log=print, experiment_root: Path | None = None) -> list[dict]:
    """Iterations ``done+1..I`` of ``pipe``: metrics rows to ``metrics.jsonl``, TensorBoard and the enabled
    trackers (``tracking``; ``experiment_root`` groups a comparison's runs)."""
    from torch.utils.tensorboard import SummaryWriter

    from rayrlhf.run.tracking import RunTracker

    cfg, run = pipe.cfg, pipe.run
    rows = []
    writer = SummaryWriter(str(run.root / "tb"))
    tracker = RunTracker(cfg, run.root, experiment_root)
    try:
        log(f"[train] start-up {pipe.startup_s:.1f}s (actors, vLLM engine, learner); "
            f"iterations {done + 1}..{cfg.train.iterations} -> {run.root}")
        step = sum(int(r.get("train/steps", 0)) for r in run.metrics())  # optimizer steps before this process
        for it in range(done + 1, cfg.train.iterations + 1):
            row = pipe.iteration(it)
            for k, v in row.items():
                if isinstance(v, int | float) and k != "iteration":
                    writer.add_scalar(k, v, it)
            first, step = step + 1, step + len(pipe.last_steps)  # global optimizer-step numbers of this iteration
            for i, s in enumerate(pipe.last_steps):
                for k, v in s.items():
                    writer.add_scalar(f"train_step/{k}", v, first + i)
            evaluated = "eval/win_rate_vs_init" in row  # eval.every skips the iterations between
            samples = pipe.samples_table(it) if evaluated else []
            table = samples_markdown(samples)
            if evaluated:
                writer.add_text("samples", table, it)
            writer.flush()
            tracker.log(row, it)
            tracker.log_steps(pipe.last_steps, first, it)
            if evaluated:
                tracker.log_samples(samples, it, table)
            rows.append(row)
            log(f"[train] iteration {it}: {_win_rate_text(row)}, oracle queries {row['oracle_queries']}, "
                f"{row['timing/iteration_s']:.1f}s")
    finally:
        writer.close()
        tracker.close()
    return rows
