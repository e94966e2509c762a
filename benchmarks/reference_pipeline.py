"""The reference pipeline: the paper authors' *structure*, written in rayrlhf's terms, for benchmark 1.

Every iteration runs each stage as a fresh process that loads what it needs and hands files to the next, as the
authors' shell loop does (generate, annotate, train), plus an evaluation stage so that both sides do the same
held-out work:

- ``generate``: transformers ``generate`` (rayrlhf's ``hf`` sampler) draws K responses **and N extra responses for
  every prompt** (the authors generate the Best-of-N candidates up front, whichever arm the prompt gets);
- ``annotate``: loads every source model and the oracle in process; in rounds of ``transfer.refresh_every`` the
  coordinator's UCB assigns arms, a source arm's prompt gets the top ``Rp`` of its N extras under that source, the
  oracle ranks the K, wins are recorded; writes the preference pairs;
- ``train``: a fresh trainer (rayrlhf.learner.step's pure functions on one process) on the pairs; saves the model;
- ``evaluate``: held-out samples of the new model scored by the oracle (:mod:`benchmarks.heldout`).

The prompts, labels, pair rule, optimiser recipe and evaluation are rayrlhf's, so the two sides differ only in
structure. Run a stage by hand: ``python -m benchmarks.reference_pipeline STAGE --config C --work DIR --iteration I``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import log, python_module, run_logged

STAGES = ("generate", "annotate", "train", "evaluate")


def _load(cfg_path: str):
    from rayrlhf.config import load_config

    return load_config(cfg_path)


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def stage_generate(cfg, work: Path, iteration: int) -> dict:
    import torch

    from rayrlhf.core.seeds import derived_seed
    from rayrlhf.rollout.hf_sampler import HFSampler

    it = work / f"iter_{iteration}"
    rows = json.loads((it / "prompts.json").read_text())
    t0 = time.perf_counter()
    sampler = HFSampler(_model_dir(cfg, work, iteration - 1), trust_remote_code=cfg.policy.trust_remote_code,
                        dtype=torch.float32, tokenizer=cfg.policy.tokenizer)
    load_s = time.perf_counter() - t0
    prompts = [r["prompt"] for r in rows]
    seed = derived_seed(cfg.run.seed, "reference-gen", iteration)
    settings = {"max_new_tokens": cfg.rollout.max_new_tokens, "temperature": cfg.rollout.temperature, "top_p": cfg.rollout.top_p}
    base = sampler.sample(prompts, n=cfg.train.responses_per_prompt, seed=seed, **settings)
    extra = sampler.sample(prompts, n=cfg.transfer.best_of_n, seed=seed + 1, **settings)
    out = [{**r, "responses": [s.text for s in b], "extras": [s.text for s in e]} for r, b, e in zip(rows, base, extra, strict=True)]
    _write(it / "generated.json", out)
    tokens = sum(len(s.token_ids) for group in (base, extra) for row in group for s in row)
    return {"load_s": load_s, "work_s": time.perf_counter() - t0 - load_s, "samples": len(rows) * (
        cfg.train.responses_per_prompt + cfg.transfer.best_of_n), "tokens": tokens}


def stage_annotate(cfg, work: Path, iteration: int) -> dict:
    import numpy as np

    from rayrlhf.algorithms.transfer import SELF_ARM, choose_pair, replace_with_best_of_n
    from rayrlhf.core.records import RoundItem
    from rayrlhf.core.seeds import derived_seed
    from rayrlhf.rewards import build_source
    from rayrlhf.run.coordinator import Coordinator
    from rayrlhf.task.build import resolve_model

    it = work / f"iter_{iteration}"
    rows = json.loads((it / "generated.json").read_text())
    t0 = time.perf_counter()
    resolve = lambda m: resolve_model(m, cfg.task)  # noqa: E731
    sources = {s.name: build_source(s, resolve) for s in cfg.sources}  # every source model, loaded in process
    oracle = build_source(cfg.oracle.reward, resolve)
    coordinator = Coordinator(cfg, str(work), score=oracle.score)
    load_s = time.perf_counter() - t0
    coordinator.start_iteration(iteration)
    rp, size, pairs, arms_used = cfg.transfer.num_replace, cfg.transfer.refresh_every, [], defaultdict(int)
    for r, start in enumerate(range(0, len(rows), size)):
        chunk = rows[start : start + size]
        arms = coordinator.assign(len(chunk))
        by_arm = defaultdict(list)
        for i, arm in enumerate(arms):
            arms_used[arm] += 1
            if arm != SELF_ARM:
                by_arm[arm].append(i)
        responses = [list(row["responses"]) for row in chunk]
        masks = [[False] * len(row["responses"]) for row in chunk]
        for arm, idx in by_arm.items():
            n = cfg.transfer.best_of_n
            scores = sources[arm].score([chunk[i]["prompt"] for i in idx for _ in range(n)],
                                        [x for i in idx for x in chunk[i]["extras"]],
                                        [chunk[i].get("reference") for i in idx for _ in range(n)])
            for j, i in enumerate(idx):
                responses[i], masks[i] = replace_with_best_of_n(chunk[i]["responses"], chunk[i]["extras"],
                                                                scores[j * n : (j + 1) * n], rp)
        items = [RoundItem(row["prompt"], row.get("reference"), arms[i], tuple(responses[i]), tuple(masks[i]),
                           row["responses"][-1]) for i, row in enumerate(chunk)]
        answers = coordinator.annotate(items)
        coordinator.record_wins(items, answers)
        rng = np.random.default_rng(derived_seed(cfg.run.seed, "pairs", iteration, r))
        for item, answer in zip(items, answers, strict=True):
            if answer is not None:
                c, j = choose_pair(answer.ranking, cfg.transfer.pair_strategy, rng)
                pairs.append({"prompt": item.prompt, "chosen": item.responses[c], "rejected": item.responses[j],
                              "explore": item.explore})
    _write(it / "pairs.json", pairs)
    return {"load_s": load_s, "work_s": time.perf_counter() - t0 - load_s, "pairs": len(pairs), "arms": dict(arms_used)}


def stage_train(cfg, work: Path, iteration: int) -> dict:
    import torch

    from rayrlhf.core.records import PreferencePair
    from rayrlhf.core.seeds import derived_seed
    from rayrlhf.learner.policy import TrainablePolicy
    from rayrlhf.learner.step import make_optimizer, train_epochs
    from rayrlhf.task.build import resolve_model

    it = work / f"iter_{iteration}"
    pairs = [PreferencePair.from_json(p) for p in json.loads((it / "pairs.json").read_text())]
    t0 = time.perf_counter()
    start = _model_dir(cfg, work, iteration - 1)
    policy = TrainablePolicy(cfg, start, resolve_model(cfg.policy.model, cfg.task), torch.device("cpu"))
    model, reference = policy.begin_iteration(start)
    optimizer = make_optimizer(model, cfg.optim)  # a fresh trainer every iteration
    load_s = time.perf_counter() - t0
    stats = train_epochs(model, reference, policy.tokenizer, optimizer, pairs, cfg.optim,
                         seed=derived_seed(cfg.run.seed, "train", iteration))
    policy.end_iteration()
    policy.save(it / "model")
    return {"load_s": load_s, "work_s": time.perf_counter() - t0 - load_s, "steps": stats["steps"], "loss": stats["loss"]}


def stage_evaluate(cfg, work: Path, iteration: int) -> dict:
    from benchmarks.heldout import heldout_score
    from rayrlhf.data.prompts import load_splits

    _, eval_rows = load_splits(cfg, log=lambda m: None)
    return heldout_score(cfg, _model_dir(cfg, work, iteration), eval_rows, seed=iteration)


def _model_dir(cfg, work: Path, iteration: int) -> str:
    """The policy after ``iteration`` (0: the initial policy)."""
    from rayrlhf.task.build import resolve_model

    return resolve_model(cfg.policy.model, cfg.task) if iteration == 0 else str(work / f"iter_{iteration}" / "model")


def run_reference(cfg_path: Path, work: Path) -> dict:
    """The whole reference run, stage by stage as subprocesses; per-iteration and per-stage wall seconds."""
    from rayrlhf.data.prompts import load_splits
    from rayrlhf.run.loop import prompt_schedule

    cfg = _load(str(cfg_path))
    t_run = time.perf_counter()
    train_rows, _ = load_splits(cfg, log=lambda m: None)
    m = cfg.train.prompts_per_iteration
    stages: dict[str, list[float]] = defaultdict(list)
    iterations, details = [], []

    def stage(name: str, iteration: int) -> float:
        cmd = python_module("benchmarks.reference_pipeline", name, "--config", str(cfg_path), "--work", str(work),
                            "--iteration", str(iteration))
        seconds = run_logged(cmd, work / "logs" / f"{name}_{iteration}.log").seconds
        details.append({"stage": name, "iteration": iteration, "wall_s": seconds,
                        **json.loads((work / f"iter_{iteration}" / f"{name}.json").read_text())})
        return seconds

    stage("evaluate", 0)
    for i in range(1, cfg.train.iterations + 1):
        rows = [train_rows[j] for j in prompt_schedule(len(train_rows), cfg.run.seed, (i - 1) * m, m)]
        _write(work / f"iter_{i}" / "prompts.json", rows)
        t_iter = 0.0
        for name in STAGES:
            seconds = stage(name, i)
            stages[name].append(seconds)
            t_iter += seconds
        iterations.append(t_iter)
        log(f"reference iteration {i}: {t_iter:.1f}s ({', '.join(f'{n} {stages[n][-1]:.1f}s' for n in STAGES)})")
    final = details[-1]
    return {"wall_s": time.perf_counter() - t_run, "iteration_s": iterations, "stage_s": dict(stages), "stages": details,
            "pairs": [d["pairs"] for d in details if d["stage"] == "annotate"], "oracle_score": final["oracle_score"],
            "oracle_score_init": details[0]["oracle_score"]}


def main() -> None:
    ap = argparse.ArgumentParser(description="one stage of the reference pipeline")
    ap.add_argument("stage", choices=STAGES)
    ap.add_argument("--config", required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--iteration", type=int, required=True)
    args = ap.parse_args()
    cfg = _load(args.config)
    t0 = time.perf_counter()
    result = globals()[f"stage_{args.stage}"](cfg, args.work, args.iteration)
    _write(args.work / f"iter_{args.iteration}" / f"{args.stage}.json", {**result, "in_process_s": time.perf_counter() - t0})


if __name__ == "__main__":
    main()
