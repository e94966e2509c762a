"""benchmarks/README.md from one run's results.json (``make bench`` writes it; refresh it by hand with
``python -m benchmarks.readme runs/bench-.../results.json``). The results and plots are copied into
benchmarks/results/ so that the README's tables and pictures come from that one run, with its commit."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from benchmarks.common import REPO

INTRO = """\
# Benchmarks

`make bench` runs every benchmark below in one process tree, one after the other, on one config (the quickstart's
work: the built-in task, 128 prompts per iteration, K=4, N=8, six sources; two iterations), prints every ratio and
writes `results.json` and the plots into a folder (`BENCH_OUT`, default `runs/bench-<date>`); it then rewrites this
page from that run (`python -m benchmarks.readme RESULTS.json`). Each comparison measures both sides in the same
run, on the same work; absolute seconds depend on the machine and its load and are shown for reading, never
asserted. `python -m benchmarks.run_all --scale tiny` runs the whole suite at test size in a few minutes.

1. **vs the reference pipeline**: `rayrlhf train` against the paper authors' *structure* in rayrlhf's terms
   (`benchmarks/reference_pipeline.py`): every stage of every iteration a fresh process that loads its models,
   transformers `generate`, N extra samples for every prompt, a fresh trainer per iteration, files between stages.
2. **rollout vs bare vLLM**: the generate calls one iteration makes (one per round: K for every prompt, N more on source arms) through rayrlhf's
   rollout actor, against one bare vLLM engine (same engine arguments and sampling) generating the same requests
   in one call; generated tokens per second.
3. **scoring**: W reward actors scoring in parallel vs one after another on a fake multi-node cluster
   (`ray.cluster_utils.Cluster`, actors spread); the cost of the Best-of-N extras per source arm.
4. **overheads**: start-up by actor (each alone, then all together as the library starts them, then variants
   with the changes listed below); learner dispatch and weight sync as a share of an iteration.
5. **TRL's `OnlineDPOTrainer`** on the same policy with the same oracle as its judge and the same number of labelled
   pairs (needs `pip install -e .[bench]`).
6. **growth**: one iteration's time and peak memory as W (1, 3, 6, 12), K, N and M grow; a cost model fitted to those
   points projects the `examples/xsum_t5small.yaml` shape (a **projection**, not a measurement).
"""


TINY_NOTE = ("**Scale `tiny`** (the test-size task: 16 prompts per iteration, two iterations): start-up dominates every "
             "whole-run ratio and the stages are too small for steady per-stage ratios; `make bench` gives the "
             "quickstart-size numbers.\n\n")


def fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value).replace("|", "\\|")


def table(rows: list[dict]) -> str:
    """A markdown table; the columns are every key in the rows, in first-seen order."""
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(row.get(c)) for c in cols) + " |" for row in rows]
    return "\n".join(lines)


def later_runs(kept: Path) -> dict[str, dict]:
    """Benchmarks of the suite run again on their own (``benchmarks/results/<name>.json`` with the section's
    ``name``, its ``ratios`` and ``commit``), by section name."""
    later = {}
    for path in sorted(kept.glob("*.json")):
        if path.name != "results.json":
            found = json.loads(path.read_text())
            if found.get("name") and isinstance(found.get("ratios"), dict):
                later[found["name"]] = found | {"file": path.name}
    return later


def summary(results: dict, later: dict[str, dict] | None = None) -> str:
    """The ratio table: each benchmark's ratios from the suite's run, a ratio its later run on its own measured again
    replaced by that run's (named in the ``run`` column)."""
    later, rows = later or {}, []
    for name, sec in results["sections"].items():
        again = later.get(name, {"ratios": {}})
        rows += [{"benchmark": sec["title"], "ratio": ratio, "value": value, "run": "suite"}
                 for ratio, value in sec["ratios"].items() if ratio not in again["ratios"]]
        rows += [{"benchmark": sec["title"], "ratio": ratio, "value": value,
                  "run": f"later, `{again['commit']}` (results/{again['file']})"} for ratio, value in again["ratios"].items()]
    rows += [{"benchmark": sec["title"], "ratio": "FAILED", "value": sec["error"], "run": "suite"}
             for sec in results["sections"].values() if sec["error"]]
    return table(rows)


def section_md(sec: dict) -> str:
    parts = [f"### {sec['title']}", f"_{sec['seconds']:.0f}s of the run._"]
    if sec["error"]:
        parts.append(f"**Did not run:** {sec['error']}")
    for name, rows in sec["tables"].items():
        parts += [f"**{name}**", table(rows)]
    parts += [f"- {note}" for note in sec["notes"]]
    return "\n\n".join(parts)


def startup_changes(results: dict) -> str:
    values = results["sections"].get("startup", {}).get("values", {})
    changes = values.get("prototype_changes", {})
    if not changes:
        return ""
    lines = ["## Start-up: the cut, and what else was tried", "",
             "The variant start-ups (benchmark 4a) start the same actors, all before any is awaited, with one of these "
             "changes each ('before' undoes the library's cut; the others are not in the library):", ""]
    lines += [f"- `{name}`: {what}" for name, what in changes.items()]
    lines += ["", "Variants: " + "; ".join(f"'{n}' = {' + '.join(p['changes'])}" for n, p in values.get("prototypes", {}).items())]
    return "\n".join(lines)


def render(results: dict, plots_dir: str = "results", kept: Path | None = None) -> str:
    """The page: the suite's run (with later single-benchmark runs in its summary) and ``benchmarks/later.md``."""
    kept = kept or REPO / "benchmarks" / "results"
    later_md = kept.parent / "later.md"
    meta = results["meta"]
    head = (f"## Results\n\nOne run: commit `{meta['commit']}`, {meta['date']}, scale `{meta['scale']}`, {meta['cpus']} CPUs "
            f"(load average {fmt(meta.get('load_avg_1m_at_start'))} at the start"
            + (f", OMP_NUM_THREADS={meta['omp_num_threads']}" if meta.get("omp_num_threads") else "")
            + f"), {fmt(meta.get('total_s'))}s in all"
            + (f" (task build {fmt(meta['task_build_s'])}s)" if (meta.get("task_build_s") or 0) > 1 else "") + ".\n\n"
            + (TINY_NOTE if meta.get("scale") == "tiny" else "")
            + summary(results, later_runs(kept) if meta.get("scale") != "tiny" else None))
    pics = "\n\n".join(f"![{p}]({plots_dir}/{p})" for p in meta.get("plots", []))
    body = "\n\n".join(section_md(sec) for sec in results["sections"].values())
    parts = [INTRO, head, pics, "## Details", body, startup_changes(results),
             "Regenerate this page from a run: `python -m benchmarks.readme RUN/results.json`.",
             later_md.read_text() if later_md.is_file() else ""]
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--readme", type=Path, default=REPO / "benchmarks" / "README.md")
    args = ap.parse_args(argv)
    results = json.loads(args.results.read_text())
    keep = args.readme.parent / "results"
    keep.mkdir(parents=True, exist_ok=True)
    for src in [args.results, *(args.results.parent / name for name in results["meta"].get("plots", []))]:
        dst = keep / ("results.json" if src == args.results else src.name)
        if src.resolve() != dst.resolve():  # refreshing from the kept copy itself
            shutil.copyfile(src, dst)
    args.readme.write_text(render(results, kept=keep))
    print(f"wrote {args.readme} and {keep}/ from {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
