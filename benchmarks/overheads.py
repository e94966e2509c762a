"""Benchmark 4b: weight sync and learner dispatch as a share of an iteration.

- weight sync: the rollout engines loading the learner's checkpoint in place (``Workers.load_weights``), measured
  here and read from benchmark 1's metrics (``timing/weight_sync_s``);
- learner dispatch: the wall time of ``Learner.train`` from the driver minus the seconds its workers report for the
  iteration's work (load, train, save): Ray Data's split, the job and result queues, the driver's polling.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from benchmarks.common import Section, log, mean, ratio


def preference_pairs(rows: list[dict], count: int) -> list:
    """``count`` pairs from the task's rows: the reference summary chosen over its first clause."""
    from rayrlhf.core.records import PreferencePair

    return [PreferencePair(r["prompt"], " " + r["reference"], " " + r["reference"].split(",")[0] + ".", "")
            for r in (rows * (count // len(rows) + 1))[:count]]


def run(cfg, workers, train_rows: list[dict], out: Path, iteration_s: float | None, repeats: int = 2) -> Section:
    section = Section("overheads", "4b. Weight sync and learner dispatch")
    pairs = preference_pairs(train_rows, cfg.train.prompts_per_iteration)
    walls, inside, syncs = [], [], []
    log(f"benchmark 4b: learner dispatch ({len(pairs)} pairs) and weight sync, {repeats} times")
    for i in range(repeats):
        t = time.perf_counter()
        result = workers.learner.train(pairs, out / f"train_{i}", i, cfg.optim)
        walls.append(time.perf_counter() - t)
        inside.append(result.seconds)
        syncs.append(workers.load_weights(str(out / f"train_{i}")))
    dispatch = [w - s for w, s in zip(walls, inside, strict=True)]
    section.values = {"train_wall_s": walls, "train_in_workers_s": inside, "dispatch_s": dispatch, "weight_sync_s": syncs,
                      "iteration_s": iteration_s}
    section.ratios = {
        "learner dispatch / train stage": ratio(statistics.median(dispatch), statistics.median(walls)),
        "learner dispatch / iteration": ratio(statistics.median(dispatch), iteration_s),
        "weight sync / iteration": ratio(statistics.median(syncs), iteration_s),
    }
    section.tables["overheads (seconds)"] = [
        {"what": "train stage, driver's wall time", "seconds": mean(walls)},
        {"what": "train stage, inside the workers", "seconds": mean(inside)},
        {"what": "learner dispatch (the difference)", "seconds": mean(dispatch)},
        {"what": "weight sync (engine reload in place)", "seconds": mean(syncs)},
        {"what": "rayrlhf iteration (benchmark 1)", "seconds": iteration_s}]
    if iteration_s is None:
        section.notes.append("benchmark 1 did not run: no iteration time to take shares of")
    return section
