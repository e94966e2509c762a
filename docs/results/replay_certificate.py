"""Iteration 1's certificate replayed offline under each multiple test of route guaranteed (rayrlhf/labelling/guarantee.py).

For each routed run directory given (a `rayrlhf compare` method's `seed_N` folders, run with `train.iterations=1`),
this refits the label model on the answers it was fitted on in iteration 1 (`checkpoints/iter_1/state.json`) and
certifies it on that iteration's audits, as the run does before a round once people's labels are spent, under
`bonferroni` and `sequence`; then the same with a higher audit share, by moving a uniform random share of all
iteration 1's answers to the audits (as the run's own audit draw is uniform). Per case it prints the certified
threshold, the audits it rests on and their agreement there.

    python docs/results/replay_certificate.py 0.7 runs/sel_bt1/ucb+guaranteed*/seed_*
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import yaml

from rayrlhf.algorithms.label_model import LabelExample, fit_label_model
from rayrlhf.labelling.guarantee import TESTS, audit, certify

SHARES = (None, 0.625, 0.75)  # None: the run's own split (oracle.audit_share 0.5)


def split(fit: list[LabelExample], audits: list[LabelExample], share: float | None, seed: int = 0):
    """The run's split (``share`` None), or all answers re-split with ``share`` of them audits (16 fitted at least)."""
    if share is None:
        return fit, audits
    pool = fit + audits
    order = np.random.default_rng(seed).permutation(len(pool))
    n_fit = max(16, round(len(pool) * (1 - share)))
    return [pool[i] for i in order[:n_fit]], [pool[i] for i in order[n_fit:]]


def replay(run: Path, target: float) -> list[str]:
    """One line per audit share: the certificate under each test."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    sources, unit = [s["name"] for s in config["sources"]], config["oracle"].get("certify_unit", "pair")
    rows = json.loads((run / "checkpoints" / "iter_1" / "state.json").read_text())["label_examples"]
    fit = [LabelExample.from_json(r) for r in rows if not r.get("audit")]
    audits = [LabelExample.from_json(r) for r in rows if r.get("audit")]
    lines = []
    for share in SHARES:
        f, a = split(fit, audits, share)
        model = fit_label_model(sources, f)
        cells = []
        for test in TESTS:
            c = certify(audit(model, a), target, 0.05, unit=unit, test=test, fitted=audit(model, f))
            acc = "-" if c.threshold is None else f"{c.accuracy:.3f}"
            cells.append(f"{test} {c.threshold} on {c.covered} ({acc})")
        lines.append(f"{run.name} audit share {share or 0.5}: fitted {len(f)}, audits {len(a)}; " + "; ".join(cells))
    return lines


def main(argv: list[str]) -> None:
    target = float(argv[0])
    for run in map(Path, argv[1:]):
        print("\n".join(replay(run, target)))


if __name__ == "__main__":
    main(sys.argv[1:])
