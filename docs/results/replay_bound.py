"""Each iteration's last certificate replayed offline under each p-value of route guaranteed
(``oracle.certify_bound``; rayrlhf/labelling/guarantee.py and betting.py).

For each routed run directory given (a `rayrlhf compare` method's `seed_N` folders), this loads the run's config and
the label model's answers and audits at the end of each checkpointed iteration (`checkpoints/iter_N/state.json`),
refits the model and certifies it as the run does before a round, under `hoeffding_bentkus` and `betting`, all else
the run's. With `oracle.burn_in: certify` and all of an iteration's human labels spent in its first round, that is
the certificate of the iteration's later rounds. Per case it prints the certified threshold, its bound, the audits
it rests on and their agreement there.

With `--resplit N` it instead re-splits the answers of the end of iteration 2 at random N times at each audit share
of `SHARES` (each answer an audit with that chance, as the run draws them; `oracle.route_after` 8 so the smaller fit
share may still label) and prints how often each bound certifies a threshold.

With `--route-after` it instead rebuilds the answers and audits as they stood at the end of iterations 1 and 2
(the first `label_model/examples` answers and `label_model/audits` audits of `metrics.jsonl`, taken in the order
`checkpoints/iter_2/state.json` keeps them) and prints, for each `oracle.route_after` of `ROUTE_AFTER`, the
certificate on them (`burn-in`: too few answers to fit on), all else the run's. Under `oracle.burn_in: certify` an
uncertified iteration's human labels all come in its first round, so that is the certificate its later rounds would
have had: the run is the same up to there under any `route_after` it had not yet reached.

    python docs/results/replay_bound.py runs/p32w/ucb+guaranteed+ranking/seed_*
    python docs/results/replay_bound.py --resplit 20 runs/p32w/ucb+guaranteed+ranking/seed_*
    python docs/results/replay_bound.py --route-after runs/fqbt75/ucb+guaranteed+ranking*/seed_*
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from rayrlhf.config import load_config
from rayrlhf.labelling.guarantee import BOUNDS
from rayrlhf.run.label_model_run import LabelModelRun


def _run_setup(run: Path):
    """The run's oracle config and its sources' names."""
    config = load_config(run / "config.yaml")
    return config.oracle, tuple(s.name for s in config.sources)


def _certificate(oracle, sources: tuple[str, ...], rows: list[dict]):
    """The certificate the run's rule gives the label model fitted on ``rows`` (audits flagged), or None in burn-in."""
    return LabelModelRun(oracle, sources, None, rows).certificate(oracle.model_accuracy, 1 - oracle.accuracy_confidence)


def replay(run: Path) -> list[str]:
    """One line per checkpointed iteration: the certificate under each bound."""
    oracle, sources = _run_setup(run)
    lines = []
    for state in sorted((run / "checkpoints").glob("iter_*/state.json"), key=lambda p: int(p.parent.name[5:])):
        examples = json.loads(state.read_text())["label_examples"]
        cells = []
        for bound in BOUNDS:
            c = _certificate(oracle.model_copy(update={"certify_bound": bound}), sources, examples)
            if c is None:
                cells.append(f"{bound} burn-in")
                continue
            acc = "-" if c.threshold is None else f"{c.accuracy:.3f}"
            cells.append(f"{bound} {c.threshold} bound {c.bound:.3f} on {c.covered} of {c.audited} ({acc})")
        lines.append(f"{run.parent.parent.name} {run.name} {state.parent.name}: " + "; ".join(cells))
    return lines


SHARES = (0.5, 0.625, 0.75)


def resplit(run: Path, repeats: int) -> list[str]:
    """One line per audit share: the share of ``repeats`` random re-splits of iteration 2's answers each bound
    certifies a threshold on."""
    oracle, sources = _run_setup(run)
    oracle = oracle.model_copy(update={"route_after": 8})
    answers = [{k: v for k, v in row.items() if k != "audit"} for row in
               json.loads((run / "checkpoints" / "iter_2" / "state.json").read_text())["label_examples"]]
    lines = []
    for share in SHARES:
        certified = dict.fromkeys(BOUNDS, 0)
        for repeat in range(repeats):
            draws = np.random.default_rng(repeat).random(len(answers)) < share
            rows = [row | {"audit": True} if hit else row for row, hit in zip(answers, draws, strict=True)]
            for bound in BOUNDS:
                c = _certificate(oracle.model_copy(update={"certify_bound": bound}), sources, rows)
                certified[bound] += c is not None and c.threshold is not None
        cells = "; ".join(f"{bound} {count / repeats:.2f}" for bound, count in certified.items())
        lines.append(f"{run.parent.parent.name} {run.name} iter_2 audit share {share}: certified in {cells}")
    return lines


ROUTE_AFTER = (4, 8, 12, 16)


def route_after(run: Path) -> list[str]:
    """One line per iteration 1 and 2: the certificate on the answers and audits at its end under each
    ``oracle.route_after`` of ``ROUTE_AFTER``."""
    oracle, sources = _run_setup(run)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    rows = json.loads((run / "checkpoints" / "iter_2" / "state.json").read_text())["label_examples"]
    fitted, audits = [r for r in rows if not r.get("audit")], [r for r in rows if r.get("audit")]
    lines = []
    for iteration in (1, 2):
        n_fitted, n_audits = (metrics[iteration - 1][f"label_model/{k}"] for k in ("examples", "audits"))
        cells = []
        for after in ROUTE_AFTER:
            c = _certificate(oracle.model_copy(update={"route_after": after}), sources, fitted[:n_fitted] + audits[:n_audits])
            cells.append(f"route_after {after}: " + ("burn-in" if c is None else
                         f"{c.threshold} bound {c.bound:.3f} on {c.covered} of {c.audited}"))
        lines.append(f"{run.parent.name} {run.name} end of iter_{iteration} ({n_fitted} to fit on, {n_audits} audits): "
                     + "; ".join(cells))
    return lines


def main(argv: list[str]) -> None:
    if argv[:1] == ["--route-after"]:
        print("\n".join(line for run in argv[1:] for line in route_after(Path(run))))
        return
    repeats = int(argv[1]) if argv[:1] == ["--resplit"] else 0
    for run in map(Path, argv[2:] if repeats else argv):
        print("\n".join(resplit(run, repeats) if repeats else replay(run)))


if __name__ == "__main__":
    main(sys.argv[1:])
