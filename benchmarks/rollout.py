"""Benchmark 2: the rollout stage against one bare vLLM engine.

rayrlhf's side is the generation the pipeline asks of its rollout actors in one iteration: per round of
``transfer.refresh_every`` prompts, one call with K samples for every prompt and N more for each prompt on a source
arm (arms drawn as UCB's first round draws them). The bare side (:mod:`benchmarks.bare_vllm`, its own
process) generates exactly those requests, with the same engine arguments and sampling settings, in a single
``LLM.generate`` call. Both exclude engine start-up; the ratio is of generated tokens per second.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import Section, log, python_module, ratio, run_logged


def rollout_requests(cfg, prompts: list[str], seed: int) -> list[list[tuple[str, int]]]:
    """The generate calls of one iteration, in order: one per round, a list of (prompt, samples): K for every
    prompt of the round, then N for each prompt on a source arm (as ``Pipeline._generate_round`` asks). Pure: the
    arms are ``transfer.mode``'s, drawn as UCB's first round draws them (uniform over the sources and ``self``)."""
    import numpy as np

    from rayrlhf.algorithms.transfer import SELF_ARM, ArmStats, assign_round
    from rayrlhf.run.coordinator import arms_for

    arms = arms_for(cfg)
    rng = np.random.default_rng(seed)
    k, n, size = cfg.train.responses_per_prompt, cfg.transfer.best_of_n, cfg.transfer.refresh_every
    calls = []
    for start in range(0, len(prompts), size):
        chunk = prompts[start : start + size]
        assigned = (assign_round(len(chunk), ArmStats(arms), first_round=True, c=cfg.transfer.ucb_c, rng=rng)
                    if len(arms) > 1 else [arms[0]] * len(chunk))
        by_arm = defaultdict(list)
        for p, arm in zip(chunk, assigned, strict=True):
            if arm != SELF_ARM:
                by_arm[arm].append(p)
        calls.append([(p, k) for p in chunk] + [(p, n) for group in by_arm.values() for p in group])
    return calls


def rayrlhf_rollout(workers, calls: list[list[tuple[str, int]]]) -> dict:
    """The calls through :meth:`rayrlhf.run.actor_group.Workers.generate`, one after another as the pipeline makes them."""
    t0 = time.perf_counter()
    tokens = samples = 0
    for call in calls:
        rows = workers.generate([p for p, _ in call], [n for _, n in call], None, 0)
        tokens += sum(len(s["token_ids"]) for row in rows for s in row)
        samples += sum(len(row) for row in rows)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "tokens": tokens, "samples": samples, "tokens_per_s": tokens / seconds, "calls": len(calls)}


def run(cfg, cfg_path: Path, workers, engine_dir: str, train_rows: list[dict], out: Path,
        prototype: dict | None = None) -> Section:
    """``prototype``: the same requests' result on the engine of benchmark 4a's 'before' start-up (the CPU engine in
    two processes of its own), if it ran."""
    section = Section("rollout", "2. Rollout stage vs a bare vLLM engine")
    prompts = [r["prompt"] for r in train_rows[: cfg.train.prompts_per_iteration]]
    calls = rollout_requests(cfg, prompts, seed=cfg.run.seed)
    log(f"benchmark 2: rayrlhf rollout stage ({len(calls)} generate calls), the first as warm-up, then the measured pass")
    rayrlhf_rollout(workers, calls[:1])
    ours = rayrlhf_rollout(workers, calls)
    requests = out / "requests.json"
    requests.parent.mkdir(parents=True, exist_ok=True)
    requests.write_text(json.dumps([{"prompt": p, "n": n} for call in calls for p, n in call]))
    log("benchmark 2: bare vLLM engine, one generate call")
    run_logged(python_module("benchmarks.bare_vllm", "--config", str(cfg_path), "--model", engine_dir, "--requests",
                             str(requests), "--out", str(out / "bare.json"), "--warmup", str(len(calls[0]))),
               out / "bare_vllm.log")
    bare = json.loads((out / "bare.json").read_text())
    log(f"rollout: rayrlhf {ours['tokens_per_s']:.0f} tokens/s, bare vLLM {bare['tokens_per_s']:.0f} tokens/s")
    section.ratios = {"rollout tokens/s, rayrlhf / bare vLLM (goal >= 0.9)": ratio(ours["tokens_per_s"], bare["tokens_per_s"])}
    section.values = {"rayrlhf": ours, "bare_vllm": bare, "prototype_engine": prototype}
    if prototype:
        section.ratios["rollout tokens/s, engine in the actor (library) / in two more processes (before), same calls"] = ratio(
            ours["tokens_per_s"], prototype["tokens_per_s"])
    section.tables["rollout stage"] = [
        {"side": "rayrlhf (Workers.generate, as the pipeline calls it)", **{k: ours[k] for k in ("calls", "samples", "tokens", "seconds", "tokens_per_s")}},
        {"side": "bare vLLM (one LLM.generate)", "calls": 1, **{k: bare[k] for k in ("samples", "tokens", "seconds", "tokens_per_s")}}]
    section.notes.append(f"Bare engine start-up for reference: import vLLM {bare['import_s']:.1f}s, build the engine "
                         f"{bare['engine_build_s']:.1f}s, first generate {bare['first_generate_s']:.1f}s.")
    return section
