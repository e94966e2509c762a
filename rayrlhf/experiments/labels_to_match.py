"""How many human labels does a baseline need to reach what ``ucb`` (or a routed ``ucb+uncertain``) reaches? (the
unit users pay in)

``rayrlhf compare`` runs a method at several label budgets with ``MODE@M`` (M times the prompts, so M times the
labels, per iteration). For each seed we read the labels a run spent and the mean oracle score of its held-out
samples after the last iteration. Each budget's position on the label axis is the labels it actually spent (mean
over seeds) over the labels the reference method spent, not its nominal M. The baseline's score-vs-labels curve
(means over seeds, linear between the budgets run) crosses each reference method's 1x score (every method run at 1x
only) at some multiple of the labels: that multiple is the label saving. Labels are human (paid) labels; a routed
method's model labels are counted beside them, with how often the simulated oracle agrees with them.

Its 95% interval is a paired t interval inverted over the label axis: at each multiple x, each seed's baseline score
(interpolated at x) minus the same seed's reference score is one paired difference, and x is in the interval when a
two-sided paired t test (n - 1 degrees of freedom) does not reject a mean difference of 0. Seeds share prompts and
evaluation samples, so the pairing removes what a seed does to both methods; at 5 seeds the interval covers the true
crossing 93-97% of the time on simulated curves (tests/experiments/test_labels_to_match.py), where a percentile
bootstrap over 5 seeds covers about 80%. A crossing beyond the largest budget run is reported as such.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rayrlhf.algorithms.stats import mean_interval
from rayrlhf.core.metrics import read_metrics
from rayrlhf.experiments.methods import parse_method


@dataclass(frozen=True)
class BudgetPoint:
    """One method at one label multiple: per-seed labels spent and final held-out oracle score."""

    method: str
    mode: str
    multiple: float
    labels: dict[int, float]
    scores: dict[int, float]
    model_labels: dict[int, float] | None = None  # oracle.route: labels the label model gave, per seed
    model_accuracy: dict[int, float] | None = None  # ... and the share of their pairs the oracle orders the same way
    compute: dict[int, dict[str, float]] | None = None  # per seed: optimizer steps, generated tokens, seconds

    def mean_compute(self, key: str) -> float:
        """``key``'s mean over seeds (NaN where the runs did not record it)."""
        values = [c[key] for c in (self.compute or {}).values() if c.get(key) is not None]
        return float(np.mean(values)) if values else float("nan")


COMPUTE = ("optimizer_steps", "generated_tokens", "iteration_s")  # summed over a run's iterations


def run_compute(rows) -> dict[str, float | None]:
    """A run's compute beside its labels: optimizer steps, tokens the rollout engines generated for training (None
    in runs that did not count them) and the iterations' seconds, summed over its metrics rows."""
    tokens = [r.rollout.get("generated_tokens") for r in rows]
    return {"optimizer_steps": float(sum(r.train.get("steps", 0) for r in rows)),
            "generated_tokens": None if any(t is None for t in tokens) else float(sum(tokens)),
            "iteration_s": float(sum(r.timing.get("iteration_s", 0.0) for r in rows))}


def budget_points(runs: dict[str, dict[int, Path]], score) -> list[BudgetPoint]:
    """``runs``: method -> seed -> run dir; ``score(run, iteration)``: mean held-out oracle score."""
    points = []
    for method, by_seed in runs.items():
        spec = parse_method(method)
        mode, multiple = spec.family, spec.multiple
        labels, scores, model, accuracy, compute = {}, {}, {}, {}, {}
        for seed, run in by_seed.items():
            rows = read_metrics(run)
            if rows and (s := score(run, rows[-1].iteration)) is not None:
                labels[seed], scores[seed] = float(rows[-1].oracle_queries), s
                compute[seed] = run_compute(rows)
                if any("model_labels" in r.label_model for r in rows):
                    model[seed] = float(sum(r.label_model.get("model_labels", 0) for r in rows))
                    agree = sum(r.label_model.get("oracle_accuracy_agree", 0) for r in rows)
                    pairs = sum(r.label_model.get("oracle_accuracy_pairs", 0) for r in rows)
                    accuracy[seed] = agree / pairs if pairs else float("nan")
        if scores:
            points.append(BudgetPoint(method, mode, multiple, labels, scores, model or None, accuracy or None, compute))
    return sorted(points, key=lambda p: (p.mode, p.multiple))


def crossing(target: float, multiples: list[float], curve: list[float]) -> float:
    """The multiple at which ``curve`` (increasing ``multiples``) first reaches ``target``, linear between points;
    ``multiples[0]`` if it starts at or above it, ``inf`` if it never gets there."""
    if curve[0] >= target:
        return multiples[0]
    for (x0, y0), (x1, y1) in zip(zip(multiples, curve, strict=True), zip(multiples[1:], curve[1:], strict=True), strict=False):
        if y1 >= target:
            return x0 + (x1 - x0) * (target - y0) / (y1 - y0)
    return math.inf


def references(points: list[BudgetPoint]) -> list[str]:
    """The methods a labels-to-match is measured against: those run at 1x only (``ucb`` first)."""
    multiples = {p.mode: {q.multiple for q in points if q.mode == p.mode} for p in points}
    return sorted((m for m, xs in multiples.items() if xs == {1.0}), key=lambda m: (m != "ucb", m))


def crossing_interval(table: np.ndarray, target: np.ndarray, multiples: list[float],
                      confidence: float = 0.95, steps: int = 200) -> tuple[float, float]:
    """The paired t interval of the crossing: the multiples x where a two-sided paired t test of
    ``mean_s(curve_s(x) - target_s) = 0`` does not reject, ``table`` being (multiples, seeds) scores and ``target``
    each seed's reference score; ``(low, high)`` are the first x where the mean difference's upper, and then its
    lower, confidence bound reaches 0 (found on a grid of ``steps`` points per segment, then by bisection). ``high``
    is ``inf`` where the lower bound never reaches 0 in the range run, ``low`` too where the upper bound never does;
    NaN with fewer than two seeds."""
    from scipy.stats import t as student_t

    n = table.shape[1]
    if n < 2:
        return float("nan"), float("nan")
    width = student_t.ppf(0.5 + confidence / 2, n - 1) / np.sqrt(n)

    def bound(x, sign: float) -> np.ndarray:
        diffs = np.array([np.interp(x, multiples, table[:, s]) - target[s] for s in range(n)])  # (seeds, *x)
        return diffs.mean(axis=0) + sign * width * diffs.std(axis=0, ddof=1)

    grid = np.unique(np.concatenate([np.linspace(a, b, steps) for a, b in zip(multiples, multiples[1:], strict=False)]))

    def first_reached(sign: float) -> float:
        ok = bound(grid, sign) >= 0
        if not ok.any():
            return math.inf
        j = int(np.argmax(ok))
        if j == 0:
            return float(grid[0])
        lo, hi = float(grid[j - 1]), float(grid[j])
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if bound(mid, sign) >= 0 else (mid, hi)
        return hi

    return first_reached(+1.0), first_reached(-1.0)


def labels_to_match(points: list[BudgetPoint], reference: str = "ucb") -> list[dict]:
    """For each baseline mode run at two or more multiples: the multiple of the reference's human labels (as spent)
    at which it reaches the ``reference`` method's 1x score, with the paired t interval over the seeds both ran."""
    ref = next((p for p in points if p.mode == reference and p.multiple == 1.0), None)
    if ref is None:
        return []
    out = []
    for mode in sorted({p.mode for p in points} - set(references(points))):
        curve = [p for p in points if p.mode == mode]
        seeds = sorted(set(ref.scores).intersection(*[p.scores for p in curve]))
        if len(curve) < 2 or not seeds:
            continue
        ref_labels = float(np.mean([ref.labels[s] for s in seeds]))
        xs = [float(np.mean([p.labels[s] for s in seeds])) / ref_labels for p in curve]
        table = np.array([[p.scores[s] for s in seeds] for p in curve])  # (multiples, seeds)
        target = np.array([ref.scores[s] for s in seeds])
        low, high = crossing_interval(table, target, xs)
        out.append({"baseline": mode, "reference": reference, "multiples": xs, "nominal": [p.multiple for p in curve],
                    "seeds": len(seeds), "reference_labels": ref_labels, "reference_score": float(target.mean()),
                    "curve": table.mean(axis=1).tolist(),
                    "multiple": crossing(float(target.mean()), xs, table.mean(axis=1).tolist()),
                    "ci_low": low, "ci_high": high})
    return out


def describe(m: float, multiples: list[float]) -> str:
    if math.isinf(m):
        return f"> {multiples[-1]:.2f}x (not reached)"
    if m <= multiples[0]:
        return f"<= {multiples[0]:.2f}x"
    return f"{m:.2f}x"


def markdown(points: list[BudgetPoint], matches: list[dict], fmt) -> list[str]:
    """The report's section: every method and budget with labels and final score, then each crossing."""
    lines = ["## Labels to match (held-out oracle score after the last iteration vs human labels)", "",
             "Compute beside the labels, means over seeds of each run's sums: optimizer steps, tokens the rollout "
             "engines generated for training, seconds of its iterations.", "",
             "| method | label multiple | human labels | model labels | model labels' agreement with the oracle | "
             "held-out oracle score | optimizer steps | generated tokens | iteration seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        labels = np.mean(list(p.labels.values()))
        model = f"{np.mean(list(p.model_labels.values())):.0f}" if p.model_labels else "-"
        agree = f"{np.nanmean(list(p.model_accuracy.values())):.3f}" if p.model_accuracy else "-"
        compute = " | ".join("-" if math.isnan(v := p.mean_compute(k)) else f"{v:.0f}" for k in COMPUTE)
        lines.append(f"| {p.method} | {p.multiple:g}x | {labels:.0f} | {model} | {agree} | "
                     f"{fmt(mean_interval(list(p.scores.values())))} | {compute} |")
    lines.append("")
    for m in matches:
        spent = ", ".join(f"{n:g}x: {x:.2f}x" for n, x in zip(m["nominal"], m["multiples"], strict=True))
        interval = ("no interval with one seed" if math.isnan(m["ci_low"]) else
                    f"95% paired t interval over {m['seeds']} seeds: {describe(m['ci_low'], m['multiples'])} to "
                    f"{describe(m['ci_high'], m['multiples'])}")
        lines += [f"`{m['baseline']}` reaches `{m['reference']}`'s 1x score ({m['reference_score']:.3f}, "
                  f"{m['reference_labels']:.0f} human labels) at **{describe(m['multiple'], m['multiples'])}** its human "
                  f"labels ({interval}; budgets as spent, nominal: actual {spent}).", ""]
    return lines + ["![labels to match](labels_to_match.png)", ""]


def plot(points: list[BudgetPoint], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for mode in sorted({p.mode for p in points}):
        curve = [p for p in points if p.mode == mode]
        x = [np.mean(list(p.labels.values())) for p in curve]
        cis = [mean_interval(list(p.scores.values())) for p in curve]
        y = [c.mean for c in cis]
        err = [0.0 if math.isnan(c.low) else (c.high - c.low) / 2 for c in cis]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=mode)
        if len(curve) == 1:  # a reference: its 1x score is the level the curves must reach
            ax.axhline(y[0], color=ax.lines[-1].get_color(), lw=0.8, ls="--")
    ax.set(xlabel="human labels", ylabel="held-out oracle score (last iteration)", title="labels to match")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def section(root: Path, runs: dict[str, dict[int, Path]], score, fmt) -> tuple[list[str], dict] | None:
    """Report lines and JSON for a comparison that ran some method at more than one budget (else ``None``)."""
    points = budget_points(runs, score)
    if not any(p.multiple != 1.0 for p in points):
        return None
    matches = [m for ref in references(points) for m in labels_to_match(points, ref)]
    plot(points, root / "labels_to_match.png")
    data = {"points": [{"method": p.method, "mode": p.mode, "multiple": p.multiple, "labels": p.labels,
                        "scores": p.scores, "compute": p.compute} for p in points], "matches": matches}
    return markdown(points, matches, fmt), json.loads(json.dumps(data, default=float))
