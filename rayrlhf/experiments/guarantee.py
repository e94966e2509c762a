"""The report's guarantee table (route guaranteed): per method, seed and iteration, the target accuracy, the certified
threshold and its lower bound, the audits it rests on, the share of labelled prompts people answered, and the
realised accuracy of the model's labels against the simulated oracle and against a fresh simulated person; then how
often the model's labels met the target over the iterations in which it labelled."""

from __future__ import annotations

from pathlib import Path

from rayrlhf.core.metrics import read_metrics

COLUMNS = ("target_accuracy", "threshold", "accuracy_bound", "audits", "human_labels", "model_labels", "human_share",
           "oracle_accuracy", "oracle_accuracy_ci_low", "oracle_accuracy_pairs", "person_accuracy")
COUNTS = frozenset({"audits", "human_labels", "model_labels", "oracle_accuracy_pairs"})


def guarantee_rows(by_seed: dict[int, Path]) -> list[dict]:
    """One row per seed and iteration of a routed-with-guarantee run (``label_model/target_accuracy`` in some
    iteration). An iteration of such a run with the label model's counts but no certificate figures (the model not
    yet fitted, in runs written before those were reported) is a row of people only, at the run's target."""
    rows = []
    for seed, run in sorted(by_seed.items()):
        per_iteration = [(r.iteration, dict(r.label_model or {})) for r in read_metrics(run)]
        targets = [lm["target_accuracy"] for _, lm in per_iteration if "target_accuracy" in lm]
        for iteration, lm in per_iteration:
            if targets and ("target_accuracy" in lm or "human_labels" in lm):
                rows.append(_row(seed, iteration, lm, targets[0]))
    return rows


def _row(seed: int, iteration: int, lm: dict, target: float) -> dict:
    """The table's row of one iteration (people's share from its counts, the run's target where the iteration has
    none), with whether the model's labels met the target (None: it labelled none)."""
    row = {"seed": seed, "iteration": iteration, **{k: lm.get(k) for k in COLUMNS}}
    human, model = row["human_labels"] or 0, row["model_labels"] or 0
    row |= {"target_accuracy": lm.get("target_accuracy", target),
            "human_share": human / (human + model) if human + model else float("nan")}
    labelled = model > 0 and (row["oracle_accuracy_pairs"] or 0) > 0
    row["met"] = bool(_realised(row) >= row["target_accuracy"]) if labelled else None
    return row


def _realised(row: dict) -> float:
    """The accuracy the target is on: agreement with a fresh simulated person (``person_accuracy``), or, in runs
    that predate that figure, agreement with the oracle's ``r*`` (the same with ``oracle.labels: deterministic``)."""
    person = row.get("person_accuracy")
    return row["oracle_accuracy"] if person is None or person != person else person


def _cell(value, count: bool = False) -> str:
    """A table cell: '-' for a missing value, yes/no for a verdict, a whole number for a count, else 3 decimals."""
    if value is None or value != value:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.0f}" if count else f"{value:.3f}"


def section(runs: dict[str, dict[int, Path]]) -> tuple[list[str], dict] | None:
    """The report's lines and JSON for every method whose runs certified thresholds, or None."""
    lines, out = [], {}
    for method, by_seed in runs.items():
        rows = guarantee_rows(by_seed)
        if not rows:
            continue
        judged = [r["met"] for r in rows if r["met"] is not None]
        met = sum(judged)
        out[method] = {"rows": rows, "iterations_labelled": len(judged), "iterations_met": met}
        lines += [f"## Model labels at a stated accuracy: `{method}`", "",
                  "Per seed and iteration: the target (`oracle.model_accuracy`), the last round's certified confidence "
                  "threshold (`-`: none), the lowest lower bound on accuracy among rounds the model labelled in, the "
                  "audits it rests on, people's and the model's labels, people's share of the labelled prompts, and "
                  "the realised accuracy of the model's labels against the simulated oracle (its 95% lower end and pairs) "
                  "and against a fresh simulated person (`person_accuracy`: expected agreement, the quantity the "
                  "target is on; `met` compares it with the target, or `oracle_accuracy` where a run lacks it).",
                  "", "| seed | iteration | " + " | ".join(COLUMNS) + " | met |", "|---|---|" + "---|" * (len(COLUMNS) + 1),
                  *[f"| {r['seed']} | {r['iteration']} | " + " | ".join(_cell(r[k], k in COUNTS) for k in COLUMNS) + f" | {_cell(r['met'])} |"
                    for r in rows],
                  "", f"The model labelled in {len(judged)} of {len(rows)} iterations; its labels met the target in "
                  f"{met} of them" + (f" ({met / len(judged):.0%})." if judged else "."), ""]
    return (lines, out) if out else None
