"""Where routed runs' labels go and how much each is worth, measured with the built-in task's r* (rayrlhf/task/oracle.py).

For every routed run directory given (a `rayrlhf compare` method's `seed_N` folders), each labelled prompt of each
round is classed by who labelled it (people on the rule's choice, people on a spot check or audit, the model), and
for each class this prints: the prompts, the mean r* gap between the best and the worst of its K responses (how much
a label there can teach), and for model labels the share of their pairs that r* orders the same way, and the mean
r* gap of the pairs it gets right and of those it gets wrong; then the model labels' accuracy by their confidence
(does the label model know when it is right?).

    python docs/results/label_errors.py runs/ltm39/ucb+uncertain+ranking/seed_*
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from rayrlhf.algorithms.label_model import implied_pairs
from rayrlhf.task.oracle import gold_score


def saved_rounds(run: Path) -> dict[tuple[int, int], list[dict]]:
    """A run's saved rounds (``rounds/iter_N.jsonl``) by (iteration, round)."""
    out = {}
    for path in sorted((run / "rounds").glob("iter_*.jsonl")):
        it = int(path.stem.split("_")[1])
        for r, line in enumerate(path.read_text().splitlines()):
            out[(it, r)] = json.loads(line)
    return out


def _r_star(item: dict) -> list[float]:
    return [gold_score(item["prompt"], y, item["reference"]) for y in item["responses"]]


def classify(run: Path) -> dict[str, list[dict]]:
    """Per class of labelled prompt: its r* gap and, for model labels, each pair's correctness and r* gap."""
    rounds, out = saved_rounds(run), defaultdict(list)
    for line in (run / "model_labels.jsonl").read_text().splitlines():
        d = json.loads(line)
        items = rounds.get((d["iteration"], d["round"]))
        if items is None:
            continue
        checked = {s["index"] for s in d["spot"]} | set(d.get("audit", []))
        for h in d["human"]:
            r = _r_star(items[h["index"]])
            out["people: spot check / audit" if h["index"] in checked else "people: the rule's choice"].append(
                {"gap": max(r) - min(r)})
        for m in d["model"]:
            r = _r_star(items[m["index"]])
            pairs = [(r[a] - r[b]) for a, b in implied_pairs(m["ranking"]) if not np.isclose(r[a], r[b])]
            out["model"].append({"gap": max(r) - min(r), "confidence": m["confidence"], "pairs": pairs})
        for m in d["spot"]:  # the model's own label of a spot-checked prompt: where it would have labelled
            r = _r_star(items[m["index"]])
            pairs = [(r[a] - r[b]) for a, b in implied_pairs(m["ranking"]) if not np.isclose(r[a], r[b])]
            out["model (spot-checked, its own label)"].append({"gap": max(r) - min(r), "confidence": m["confidence"],
                                                             "pairs": pairs})
    return out


def main(runs: list[str]) -> None:
    pooled = defaultdict(list)
    for run in map(Path, runs):
        for key, rows in classify(run).items():
            pooled[key] += rows
    print("| labelled by | prompts | mean r* gap best-worst | model pairs right | r* gap, right pairs | r* gap, wrong pairs |")
    print("|---|---|---|---|---|---|")
    for key in sorted(pooled):
        rows = pooled[key]
        gap = np.mean([r["gap"] for r in rows])
        pairs = [p for r in rows for p in r.get("pairs", [])]
        if pairs:
            right, wrong = [p for p in pairs if p > 0], [-p for p in pairs if p < 0]
            extra = f"{len(right) / len(pairs):.3f} | {np.mean(right):.3f} | {np.mean(wrong) if wrong else float('nan'):.3f}"
        else:
            extra = "- | - | -"
        print(f"| {key} | {len(rows)} | {gap:.3f} | {extra} |")
    labels = [r for key in pooled if key.startswith("model") for r in pooled[key] if r["pairs"]]
    print("\n| model labels with confidence at least | share of model labels | their pairs r* orders the same way |")
    print("|---|---|---|")
    conf = np.array([r["confidence"] for r in labels])
    acc = np.array([np.mean([p > 0 for p in r["pairs"]]) for r in labels])
    for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9):
        m = conf >= t
        print(f"| {t:g} | {m.mean():.3f} | {acc[m].mean() if m.any() else float('nan'):.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
