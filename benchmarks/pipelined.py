"""Benchmark 8: pipelined rounds (``transfer.delay``; docs/architecture.md, "Pipelined rounds"), both sides in one run.

    python -m benchmarks.pipelined [--scale tiny|full] [--repeats 3] [--out DIR] [--skip-vendor]

- **In-process iterations** (one set of actors; each variant one iteration from the initial policy): delay 0, 1
  and ``iteration`` with the simulated oracle, then with simulated people (``oracle.pace``: 4 annotators at 0.5 s and
  at 2 s per label), delay 0 vs 1. Repeats alternate the order of the variants (forward, backward, ...). Printed per
  setting: the median iteration time of delay 1 (and iteration) over delay 0, with the repeats' range, and the
  people's idle share (``annotation/people_idle_share``: their time between an iteration's first query and its last
  answer with nothing to answer).
- **Vendor cycles** (``rayrlhf train`` as a user runs it): ``oracle.backend=vendor``, and each stop answered by a
  scripted vendor (`rayrlhf annotate export`, labels by response length, `rayrlhf annotate import`, `rayrlhf train
  --resume`) until the run completes, per round (delay 0) vs per iteration (delay ``iteration``): stops, total wall time.

Writes OUT/pipelined.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common import (
    QUICKSTART,
    REPO,
    Section,
    bench_config,
    bench_overrides,
    git_commit,
    library_workers,
    log,
    machine,
    ratio,
)

SIMULATED = {"d0": ["transfer.delay=0"], "d1": ["transfer.delay=1"], "iteration": ["transfer.delay=iteration"]}
PEOPLE = {f"{s}s": ["oracle.pace.annotators=4", f"oracle.pace.seconds_per_label={s}"] for s in ("0.5", "2")}


def variants() -> dict[str, list[str]]:
    """Every in-process variant: ``sim/<delay>`` and ``people<pace>/<delay>`` (delay 0 and 1)."""
    out = {f"sim/{d}": o for d, o in SIMULATED.items()}
    for pace, o in PEOPLE.items():
        out |= {f"people{pace}/{d}": o + SIMULATED[d] for d in ("d0", "d1")}
    return out


def alternating(names: list[str], repeats: int) -> list[tuple[int, str]]:
    """(repeat, variant) in the order they run: forward, then backward, then forward, ..."""
    return [(r, n) for r in range(repeats) for n in (names if r % 2 == 0 else names[::-1])]


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def run_iterations(cfg, workers, init_dir: str, out: Path, repeats: int) -> dict[str, list[dict]]:
    """Each variant's iteration rows (one per repeat), every run from the initial policy on the shared actors."""
    from rayrlhf.config import Config, apply_overrides
    from rayrlhf.core.run_dir import RunDir
    from rayrlhf.run.loop import Pipeline

    rows: dict[str, list[dict]] = {}
    eval_init = None
    for rep, name in [(-1, "sim/d0"), *alternating(list(variants()), repeats)]:  # repeat -1: a warm-up, not kept
        vcfg = Config.model_validate(apply_overrides(cfg.model_dump(mode="json"), variants()[name] + ["train.iterations=1"]))
        workers.reset(init_dir)
        run = RunDir(out / name.replace("/", "_") / (f"rep{rep}" if rep >= 0 else "warmup"))
        run.root.mkdir(parents=True, exist_ok=True)
        pipe = Pipeline(vcfg, run, False, workers=workers, eval_init=eval_init)
        eval_init = eval_init or pipe.eval_init
        try:
            row = pipe.iteration(1)
        finally:
            pipe.close()
        if rep >= 0:
            rows.setdefault(name, []).append(row)
        log(f"pipelined {name} ({f'repeat {rep + 1}' if rep >= 0 else 'warm-up'}): {row['timing/iteration_s']:.1f}s"
            + (f", people idle {row['annotation/people_idle_share']:.1%}" if "annotation/people_idle_share" in row else ""))
    return rows


def iteration_ratios(rows: dict[str, list[dict]]) -> tuple[dict, list[dict], list[dict]]:
    """Per setting: iteration time of each delay over delay 0, repeat by repeat (the same repeat's runs), its median
    and range; the table of each variant's figures; the table of the ratios' ranges."""
    ratios, table, ratio_rows = {}, [], []
    for setting in ("sim", *(f"people{p}" for p in PEOPLE)):
        base = [r["timing/iteration_s"] for r in rows[f"{setting}/d0"]]
        for delay in ("d1", "iteration"):
            if f"{setting}/{delay}" not in rows:
                continue
            each = [ratio(r["timing/iteration_s"], b) for r, b in zip(rows[f"{setting}/{delay}"], base, strict=True)]
            name = f"{setting} iteration time, delay {delay[1:] if delay == 'd1' else delay} / delay 0"
            ratios[name] = statistics.median(each)
            ratio_rows.append({"ratio": name, **spread(each)})
        for delay in ("d0", "d1", "iteration"):
            got = rows.get(f"{setting}/{delay}")
            if not got:
                continue
            idle = [r["annotation/people_idle_share"] for r in got if "annotation/people_idle_share" in r]
            table.append({"setting": setting, "delay": delay, "iteration_s": spread([r["timing/iteration_s"] for r in got]),
                          "annotate_wait_s": spread([r["timing/annotate_s"] for r in got]),
                          "people_idle_share": spread(idle) if idle else None})
    return ratios, table, ratio_rows


def vendor_cycles(overrides: list[str], out: Path, delay: str) -> dict:
    """A vendor run to completion: stops, wall time; each stop exported, labelled (longest best, shortest worst; all
    equal: skipped) and imported, then resumed."""
    import subprocess

    from benchmarks.common import env_for_children

    run_dir = out / f"vendor_{delay}"
    env = env_for_children()
    cli = [sys.executable, "-m", "rayrlhf.cli"]
    t0, stops = time.perf_counter(), 0
    proc = subprocess.run([*cli, "train", str(QUICKSTART), *overrides, "oracle.backend=vendor", f"transfer.delay={delay}",
                           f"run.output_dir={run_dir}"], capture_output=True, text=True, env=env, cwd=REPO)
    while proc.returncode == 75:
        stops += 1
        batch, labels = out / f"vendor_{delay}_{stops}.jsonl", out / f"vendor_{delay}_{stops}_labels.jsonl"
        subprocess.run([*cli, "annotate", "export", str(run_dir), "--out", str(batch)], check=True, capture_output=True, env=env, cwd=REPO)
        rows = [json.loads(x) for x in batch.read_text().splitlines()]
        labels.write_text("".join(json.dumps(_length_label(r)) + "\n" for r in rows))
        subprocess.run([*cli, "annotate", "import", str(run_dir), str(labels)], check=True, capture_output=True, env=env, cwd=REPO)
        proc = subprocess.run([*cli, "train", "--resume", str(run_dir)], capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"vendor run (delay {delay}) exited {proc.returncode}: {proc.stderr[-3000:]}")
    return {"stops": stops, "wall_s": time.perf_counter() - t0}


def _length_label(row: dict) -> dict:
    lengths = [len(r) for r in row["responses"]]
    if len(set(lengths)) == 1:
        return {"query_id": row["query_id"], "skip": True}
    return {"query_id": row["query_id"], "best": 1 + lengths.index(max(lengths)), "worst": 1 + lengths.index(min(lengths))}


def run(cfg, workers, init_dir: str, out: Path, repeats: int = 3) -> Section:
    section = Section("pipelined", "8. Pipelined rounds (transfer.delay)")
    out.mkdir(parents=True, exist_ok=True)
    rows = run_iterations(cfg, workers, init_dir, out, repeats)
    section.ratios, section.tables["iterations"], section.tables["ratios over repeats"] = iteration_ratios(rows)
    section.values["rows"] = {k: [{m: v for m, v in r.items() if m.startswith(("timing/", "annotation/"))} for r in rs]
                              for k, rs in rows.items()}
    section.notes.append(f"{repeats} alternating repeats per variant (after one warm-up iteration), one iteration each "
                         "from the initial policy on one set of actors; ratios are medians of the same repeat's pairs")
    return section


def vendor_section(overrides: list[str], out: Path) -> Section:
    """8b: a vendor run to completion per round (delay 0) and per iteration (delay iteration), one after the other."""
    section = Section("vendor_cycles", "8b. Vendor stops, per round vs per iteration")
    out.mkdir(parents=True, exist_ok=True)
    cycles = {delay: vendor_cycles(overrides, out, delay) for delay in ("0", "iteration")}
    section.values["vendor"] = cycles
    section.tables["vendor"] = [{"delay": d, **c} for d, c in cycles.items()]
    section.ratios["vendor stops, per iteration / per round"] = ratio(cycles["iteration"]["stops"], cycles["0"]["stops"])
    section.ratios["vendor wall time, per iteration / per round"] = ratio(cycles["iteration"]["wall_s"], cycles["0"]["wall_s"])
    section.notes.append("one run each (stops are counts; the wall time is mostly each resume's start-up)")
    return section


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="full", choices=("full", "tiny"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench-pipelined")
    ap.add_argument("--skip-vendor", action="store_true")
    args = ap.parse_args(argv)
    overrides = bench_overrides(args.scale)
    cfg = bench_config(overrides)
    with library_workers(cfg, args.out / "ray_train") as (workers, init_dir):
        sections = [run(cfg, workers, init_dir, args.out, args.repeats)]

    def save() -> None:
        result = {"commit": git_commit(), "machine": machine(), "scale": args.scale, "sections": [s.to_json() for s in sections]}
        (args.out / "pipelined.json").write_text(json.dumps(result, indent=1))

    save()  # the in-process figures first: the vendor runs take longest
    if not args.skip_vendor:
        sections.append(vendor_section(overrides, args.out))
        save()
    for section in sections:
        for name, value in section.ratios.items():
            print(f"{name}: {'n/a' if value is None else f'{value:.3f}'}")
        for rows in section.tables.values():
            for row in rows:
                print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
