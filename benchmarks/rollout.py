"""Benchmark 2: the rollout stage against one bare vLLM engine.

rayrlhf's side is the generation the pipeline asks of its rollout actors in one iteration: per round of
``transfer.refresh_every`` prompts, one call with K samples for every prompt and N more for each prompt on a source
arm (arms drawn as UCB's first round draws them). The bare side (:mod:`benchmarks.bare_vllm`, its own
process) generates exactly those requests, with the same engine arguments and sampling settings, in a single
``LLM.generate`` call; rayrlhf's side also makes them in one call, as ``transfer.delay: iteration`` does. Both exclude
engine start-up; the ratio is of generated tokens per second, the median of alternating repeats.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmarks.common import Section, log, python_module, ratio


def rollout_requests(cfg, prompts: list[str], seed: int) -> list[list[tuple[str, int]]]:
    """The generate calls of one iteration, in order: one per round, a list of (prompt, samples) as the pipeline's
    :func:`rayrlhf.run.generation.round_requests` builds them (K for every prompt of the round, then N for each prompt
    on a source arm). Pure: the arms are ``transfer.mode``'s, drawn as UCB's first round draws them (uniform over the
    sources and ``self``)."""
    import numpy as np

    from rayrlhf.algorithms.transfer import ArmStats, assign_round
    from rayrlhf.run.coordinator import arms_for
    from rayrlhf.run.generation import round_requests

    arms = arms_for(cfg)
    rng = np.random.default_rng(seed)
    k, n, size = cfg.train.responses_per_prompt, cfg.transfer.best_of_n, cfg.transfer.refresh_every
    calls = []
    for start in range(0, len(prompts), size):
        chunk = prompts[start : start + size]
        assigned = (assign_round(len(chunk), ArmStats(arms), first_round=True, c=cfg.transfer.ucb_c, rng=rng)
                    if len(arms) > 1 else [arms[0]] * len(chunk))
        wanted, counts, _ = round_requests(chunk, assigned, k, n)
        calls.append(list(zip(wanted, counts, strict=True)))
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


def one_call(calls: list[list[tuple[str, int]]]) -> list[list[tuple[str, int]]]:
    """The iteration's requests in a single call, as ``transfer.delay: iteration`` generates them."""
    return [[request for call in calls for request in call]]


def samples_then_extras(calls: list[list[tuple[str, int]]], chunk_sizes: list[int]) -> list[list[tuple[str, int]]]:
    """The calls of ``rollout.samples_in_one_call``: every round's K requests (the first ``chunk_sizes[r]`` of call r)
    in one call, then each round's Best-of-N extras in a call of its own (none for a round without them)."""
    first = [request for call, size in zip(calls, chunk_sizes, strict=True) for request in call[:size]]
    return [first] + [call[size:] for call, size in zip(calls, chunk_sizes, strict=True) if call[size:]]


def alternate_with_bare(cfg_path: Path, engine_dir: str, calls, workers, out: Path, repeats: int,
                        split: list | None = None) -> tuple[list, list, dict, list]:
    """``repeats`` rounds of: the bare engine's one call, rayrlhf's per-round calls, rayrlhf's one call, and (given
    ``split``) the K samples in one call with per-round extras (the order reversed every other repeat), with the bare
    engine kept alive in its process between its turns."""
    import subprocess

    from benchmarks.common import env_for_children

    requests, shake = out / "requests.json", out / "handshake"
    shake.mkdir(parents=True, exist_ok=True)
    for old in shake.iterdir():
        old.unlink()
    requests.write_text(json.dumps([{"prompt": p, "n": n} for call in calls for p, n in call]))
    bare_log = (out / "bare_vllm.log").open("w")
    bare = subprocess.Popen(python_module("benchmarks.bare_vllm", "--config", str(cfg_path), "--model", engine_dir,
                                          "--requests", str(requests), "--out", str(out / "bare.json"), "--warmup",
                                          str(len(calls[0])), "--repeats", str(repeats), "--handshake", str(shake)),
                            stdout=bare_log, stderr=subprocess.STDOUT, env=env_for_children())

    def bare_turn(i: int) -> None:
        (shake / f"go_{i}").touch()
        deadline = time.monotonic() + 1800
        while not (shake / f"done_{i}").exists():
            if bare.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bare vLLM engine stopped (rc {bare.returncode}); log {out / 'bare_vllm.log'}")
            time.sleep(0.05)

    rounds, single, split_runs = [], [], []
    for i in range(repeats):
        turns = [lambda i=i: bare_turn(i), lambda: rounds.append(rayrlhf_rollout(workers, calls)),
                 lambda: single.append(rayrlhf_rollout(workers, one_call(calls)))]
        if split is not None:
            turns.append(lambda: split_runs.append(rayrlhf_rollout(workers, split)))
        for turn in turns if i % 2 == 0 else turns[::-1]:
            turn()
    if bare.wait(600) != 0:
        raise RuntimeError(f"the bare vLLM engine exited {bare.returncode}; log {out / 'bare_vllm.log'}")
    return rounds, single, json.loads((out / "bare.json").read_text()), split_runs


def run(cfg, cfg_path: Path, workers, engine_dir: str, train_rows: list[dict], out: Path,
        prototype: dict | None = None, repeats: int = 3) -> Section:
    """``prototype``: the same requests' result on the engine of benchmark 4a's 'before' start-up (the CPU engine in
    two processes of its own), if it ran."""
    import statistics

    section = Section("rollout", "2. Rollout stage vs a bare vLLM engine")
    prompts = [r["prompt"] for r in train_rows[: cfg.train.prompts_per_iteration]]
    calls = rollout_requests(cfg, prompts, seed=cfg.run.seed)
    log(f"benchmark 2: rayrlhf rollout stage ({len(calls)} generate calls, or one) vs a bare vLLM engine, {repeats} "
        "alternating repeats after a warm-up call")
    out.mkdir(parents=True, exist_ok=True)
    rayrlhf_rollout(workers, calls[:1])
    size = cfg.transfer.refresh_every
    split = samples_then_extras(calls, [len(prompts[s : s + size]) for s in range(0, len(prompts), size)])
    rounds, single, bare, split_runs = alternate_with_bare(cfg_path, engine_dir, calls, workers, out, repeats, split)
    per_round = [ratio(o["tokens_per_s"], b["tokens_per_s"]) for o, b in zip(rounds, bare["repeats"], strict=True)]
    one = [ratio(o["tokens_per_s"], b["tokens_per_s"]) for o, b in zip(single, bare["repeats"], strict=True)]
    samples_first = [ratio(o["tokens_per_s"], b["tokens_per_s"]) for o, b in zip(split_runs, bare["repeats"], strict=True)]
    ours = sorted(rounds, key=lambda r: r["tokens_per_s"])[len(rounds) // 2]
    log(f"rollout: rayrlhf per round {statistics.median(per_round):.3f}, one call {statistics.median(one):.3f}, "
        f"samples in one call {statistics.median(samples_first):.3f} of bare vLLM")
    section.ratios = {"rollout tokens/s, rayrlhf / bare vLLM (goal >= 0.9)": statistics.median(per_round),
                      "rollout tokens/s, rayrlhf one call per iteration (transfer.delay: iteration) / bare vLLM":
                          statistics.median(one),
                      "rollout tokens/s, rayrlhf K samples in one call + per-round extras (rollout.samples_in_one_call) "
                      "/ bare vLLM": statistics.median(samples_first)}
    section.values = {"rayrlhf": ours, "rayrlhf_repeats": rounds, "one_call_repeats": single, "bare_vllm": bare,
                      "samples_in_one_call_repeats": split_runs, "prototype_engine": prototype,
                      "ratio_repeats": {"per_round": per_round, "one_call": one, "samples_in_one_call": samples_first}}
    if prototype:
        section.ratios["rollout tokens/s, engine in the actor (library) / in two more processes (before), same calls"] = ratio(
            ours["tokens_per_s"], prototype["tokens_per_s"])
    section.tables["rollout stage"] = [
        {"side": "rayrlhf, one call per round (delay 0 or 1)", "ratio_min": min(per_round), "ratio_max": max(per_round),
         **{k: ours[k] for k in ("calls", "samples", "tokens", "seconds", "tokens_per_s")}},
        {"side": "rayrlhf, one call per iteration (delay iteration)", "ratio_min": min(one), "ratio_max": max(one),
         **{k: sorted(single, key=lambda r: r["tokens_per_s"])[len(single) // 2][k]
            for k in ("calls", "samples", "tokens", "seconds", "tokens_per_s")}},
        {"side": "rayrlhf, K samples in one call, extras per round (samples_in_one_call)", "ratio_min": min(samples_first),
         "ratio_max": max(samples_first), **{k: sorted(split_runs, key=lambda r: r["tokens_per_s"])[len(split_runs) // 2][k]
                                             for k in ("calls", "samples", "tokens", "seconds", "tokens_per_s")}},
        {"side": "bare vLLM (one LLM.generate)", "calls": 1, **{k: bare[k] for k in ("samples", "tokens", "seconds", "tokens_per_s")}}]
    section.notes.append(f"{repeats} alternating repeats (bare, per round, one call, samples in one call; reversed every other repeat), both "
                         "engines alive throughout; the ratios are medians of each repeat's ratio (range in the table). "
                         f"Bare engine start-up for reference: import vLLM {bare['import_s']:.1f}s, build the engine "
                         f"{bare['engine_build_s']:.1f}s, first generate {bare['first_generate_s']:.1f}s.")
    return section


def main(argv=None) -> int:
    """``python -m benchmarks.rollout [--scale full|tiny] [--repeats 3] [--out DIR]``: benchmark 2 alone (no start-up
    prototypes); writes OUT/rollout.json."""
    import argparse

    from benchmarks.common import REPO, bench_config, bench_overrides, git_commit, library_workers, write_config
    from rayrlhf.data.prompts import load_splits

    ap = argparse.ArgumentParser(description="benchmark 2: the rollout stage vs a bare vLLM engine")
    ap.add_argument("--scale", default="full", choices=("full", "tiny"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench-rollout")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    cfg = bench_config(bench_overrides(args.scale))
    cfg_path = write_config(cfg, out / "config.yaml")
    with library_workers(cfg, out / "ray_train") as (workers, _):
        rows, _ = load_splits(cfg, log=lambda m: None)
        section = run(cfg, cfg_path, workers, workers.initial_engine_dir, rows, out / "rollout", repeats=args.repeats)
    (out / "rollout.json").write_text(json.dumps({"commit": git_commit(), **section.to_json()}, indent=1))
    for name, value in section.ratios.items():
        print(f"{name}: {value:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
