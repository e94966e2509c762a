"""Benchmark 1: rayrlhf (``rayrlhf train``) vs the reference pipeline (the authors' structure,
:mod:`benchmarks.reference_pipeline`) on the same config: per-iteration and whole-run time, and the held-out
oracle score each reaches with the same number of labelled pairs."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Section, log, mean, python_module, ratio, read_jsonl, run_logged
from benchmarks.reference_pipeline import run_reference

STAGES = ("generate", "score", "annotate", "train", "weight_sync", "eval")


def run_rayrlhf(cfg_path: Path, run_dir: Path) -> dict:
    """``rayrlhf train`` as a user runs it (a subprocess); its metrics.jsonl timings."""
    timed = run_logged(python_module("rayrlhf.cli", "train", str(cfg_path), f"run.output_dir={run_dir}"), run_dir.parent / "rayrlhf_train.log")
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "timing/iteration_s" in r]
    return {"wall_s": timed.seconds, "startup_s": rows[0]["timing/startup_s"],
            "iteration_s": [r["timing/iteration_s"] for r in rows],
            "stage_s": {s: [r.get(f"timing/{s}_s", 0.0) for r in rows] for s in STAGES},
            "pairs": [r["train/pairs"] for r in rows], "oracle_queries": rows[-1]["oracle_queries"],
            "oracle_score": rows[-1]["eval/oracle_score"], "oracle_score_init": rows[-1]["eval/oracle_score_init"],
            "checkpoint": str(run_dir / "checkpoints" / f"iter_{rows[-1]['iteration']}")}


def run(cfg, cfg_path: Path, out: Path) -> Section:
    section = Section("vs_reference", "1. rayrlhf vs the reference pipeline (authors' structure)")
    log("benchmark 1: rayrlhf train")
    ours = run_rayrlhf(cfg_path, out / "rayrlhf_run")
    log(f"rayrlhf: {ours['wall_s']:.1f}s whole run, start-up {ours['startup_s']:.1f}s, "
        f"iterations {', '.join(f'{s:.1f}s' for s in ours['iteration_s'])}")
    log("benchmark 1: reference pipeline (a fresh process per stage per iteration)")
    ref = run_reference(cfg_path, out / "reference_run")
    log(f"reference: {ref['wall_s']:.1f}s whole run, iterations {', '.join(f'{s:.1f}s' for s in ref['iteration_s'])}")
    section.ratios = {
        "iteration time, rayrlhf / reference": ratio(mean(ours["iteration_s"]), mean(ref["iteration_s"])),
        "whole run, rayrlhf / reference": ratio(ours["wall_s"], ref["wall_s"]),
        "whole run without rayrlhf's start-up, rayrlhf / reference": ratio(ours["wall_s"] - ours["startup_s"], ref["wall_s"]),
    }
    section.values = {"rayrlhf": ours, "reference": ref}
    section.tables["per iteration (seconds)"] = [
        {"side": "rayrlhf", "iteration_s": mean(ours["iteration_s"]),
         **{s: mean(v) for s, v in ours["stage_s"].items()}, "whole_run_s": ours["wall_s"], "startup_s": ours["startup_s"],
         "pairs": sum(ours["pairs"]), "heldout_oracle_score": ours["oracle_score"]},
        {"side": "reference", "iteration_s": mean(ref["iteration_s"]),
         **{("eval" if s == "evaluate" else s): mean(v) for s, v in ref["stage_s"].items()}, "whole_run_s": ref["wall_s"], "startup_s": 0.0,
         "pairs": sum(ref["pairs"]), "heldout_oracle_score": ref["oracle_score"]},
    ]
    if sum(ours["pairs"]) != sum(ref["pairs"]):
        section.notes.append(f"labelled pairs differ: rayrlhf {ours['pairs']}, reference {ref['pairs']} (abstentions)")
    section.notes.append(
        "The reference's stage times are subprocess wall times (interpreter, imports and model loads included, as in the "
        "authors' shell loop); its generate stage draws K + N samples for every prompt. rayrlhf's held-out score is its "
        "own eval (vLLM samples), the reference's is transformers `generate` samples; both are r* on the same prompts.")
    return section
