"""``make bench``: every benchmark in one process tree, one after the other, on one config; prints every ratio and
writes ``OUT/results.json`` and ``OUT/*.png``. Refresh benchmarks/README.md from it with ``python -m benchmarks.readme``.

    python -m benchmarks.run_all [--scale full|tiny] [--out DIR] [--only 1,5,4,2,3,6] [--set key=value ...]

Order (each needs what an earlier one measured): 1 vs the reference pipeline, 5 TRL (1's labelled pairs and final
checkpoint), 4a start-up (leaves the library's actors running), 2 rollout, 4b overheads, 6 growth (on those actors),
3 scoring (its own fake multi-node cluster), 6b projection (6's points with 3's scoring costs).
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

from benchmarks import common
from benchmarks.common import Section, log

ORDER = ("1", "5", "4", "2", "3", "6", "8")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="rayrlhf's benchmark suite")
    ap.add_argument("--scale", default="full", choices=("full", "tiny"))
    ap.add_argument("--out", type=Path, default=None, help="results folder (default runs/bench-<date>)")
    ap.add_argument("--only", default=",".join(ORDER), help="benchmarks to run, e.g. 1,5 (default: all)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides for every benchmark")
    return ap.parse_args(argv)


class Suite:
    def __init__(self, args) -> None:
        self.out = (args.out or common.REPO / "runs" / time.strftime("bench-%Y%m%d-%H%M%S")).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.only = set(args.only.split(","))
        unknown = self.only - set(ORDER)
        if unknown:
            raise SystemExit(f"--only: unknown benchmark(s) {sorted(unknown)}; choose from {','.join(ORDER)}")
        self.cfg = common.bench_config(common.bench_overrides(args.scale, args.set))
        self.cfg_path = common.write_config(self.cfg, self.out / "config.yaml")
        self.results = {"meta": {"commit": common.git_commit(), "date": time.strftime("%Y-%m-%d %H:%M"), "scale": args.scale,
                                 "overrides": common.bench_overrides(args.scale, args.set), **common.machine()},
                        "sections": {}}
        self.t0 = time.perf_counter()

    def section(self, key: str, fn, *args):
        """Run one benchmark; a failure is recorded and the suite goes on."""
        t = time.perf_counter()
        try:
            out = fn(*args)
        except Exception as exc:
            traceback.print_exc()
            out = Section(key, f"benchmark {key}", error=f"{type(exc).__name__}: {exc}"[-2000:])
        extra = None
        if isinstance(out, tuple):
            out, extra = out
        out.seconds = time.perf_counter() - t
        self.results["sections"][out.name] = out.to_json()
        self.save()
        return out, extra

    def save(self) -> None:
        self.results["meta"]["total_s"] = time.perf_counter() - self.t0
        (self.out / "results.json").write_text(json.dumps(self.results, indent=1, default=str))

    def value(self, name: str, *path, default=None):
        node = self.results["sections"].get(name, {}).get("values", {})
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node


def run(args) -> int:
    import ray

    from rayrlhf.data.prompts import load_splits
    from rayrlhf.task.build import build_task, resolve_model

    s = Suite(args)
    cfg, out = s.cfg, s.out
    log(f"config {s.cfg_path} (scale {args.scale}); results in {out}")
    t = time.perf_counter()
    build_task(cfg.task, log=lambda m: None)
    s.results["meta"]["task_build_s"] = time.perf_counter() - t
    train_rows, _ = load_splits(cfg, log=lambda m: None)
    init_dir = resolve_model(cfg.policy.model, cfg.task)
    if "1" in s.only:
        from benchmarks import vs_reference

        s.section("vs_reference", vs_reference.run, cfg, s.cfg_path, out / "vs_reference")
    if "5" in s.only:
        from benchmarks import trl_online_dpo

        pairs = sum(s.value("vs_reference", "rayrlhf", "pairs", default=[])) or cfg.train.prompts_per_iteration * cfg.train.iterations
        s.section("trl", trl_online_dpo.run, s.cfg_path, out / "trl", pairs, s.value("vs_reference", "rayrlhf", "wall_s"),
                  s.value("vs_reference", "rayrlhf", "checkpoint"))
    iteration_s = common.mean(s.value("vs_reference", "rayrlhf", "iteration_s", default=[]))
    if s.only & {"4", "2", "6", "8"}:
        from benchmarks import growth, overheads, pipelined, rollout, startup

        calls = rollout.rollout_requests(cfg, [r["prompt"] for r in train_rows[: cfg.train.prompts_per_iteration]], cfg.run.seed)
        _, workers = s.section("startup", startup.run, cfg, init_dir, out / "startup", calls if "2" in s.only else None)
        if workers is not None:
            if "2" in s.only:
                s.section("rollout", rollout.run, cfg, s.cfg_path, workers, workers.initial_engine_dir, train_rows,
                          out / "rollout", s.value("startup", "before_rollout"))
            if "4" in s.only:
                s.section("overheads", overheads.run, cfg, workers, train_rows, out / "overheads", iteration_s)
            if "6" in s.only:
                s.section("growth", growth.run, cfg, workers, init_dir, out / "growth")
            if "8" in s.only:
                s.section("pipelined", pipelined.run, cfg, workers, init_dir, out / "pipelined")
            workers.close()
        ray.shutdown()
    if "8" in s.only:  # `rayrlhf train` as a user runs it, each with its own local Ray: after this process's is gone
        from benchmarks import pipelined

        s.section("vendor_cycles", pipelined.vendor_section, s.results["meta"]["overrides"], out / "pipelined")
    if "3" in s.only:
        from benchmarks import scoring

        r = s.value("rollout", "rayrlhf")
        gen = r["seconds"] / r["samples"] if r else None
        s.section("scoring", scoring.run, cfg, train_rows, gen)
    points = s.value("growth", "points")
    if points:
        from benchmarks import growth

        by_kind = _score_by_kind(cfg, s.value("scoring", "score_s_per_response", default={}))
        sync = common.mean(s.value("overheads", "weight_sync_s", default=[])) or 0.0
        s.section("projection", growth.projection_section, points, by_kind, sync)
    from benchmarks import plots

    s.results["meta"]["plots"] = plots.write_all(s.results, out)
    s.save()
    print_ratios(s.results)
    failed = [n for n, sec in s.results["sections"].items() if sec["error"]]
    log(f"done in {s.results['meta']['total_s']:.0f}s; results {out / 'results.json'}"
        + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _score_by_kind(cfg, per_source: dict[str, float]) -> dict[str, float]:
    """Median per-response scoring cost of each source kind measured in benchmark 3."""
    import statistics

    kinds: dict[str, list[float]] = {}
    for s in cfg.sources:
        if s.name in per_source:
            kinds.setdefault(s.kind, []).append(per_source[s.name])
    return {k: statistics.median(v) for k, v in kinds.items()}


def print_ratios(results: dict) -> None:
    print("\n=== ratios (both sides measured in this run) ===", flush=True)
    for sec in results["sections"].values():
        print(f"{sec['title']}" + (f"  [FAILED: {sec['error'][:300]}]" if sec["error"] else ""))
        for name, value in sec["ratios"].items():
            print(f"    {name}: {'n/a' if value is None else f'{value:.3f}'}")
    print(flush=True)


def main(argv=None) -> int:
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
