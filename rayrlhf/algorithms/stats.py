"""Paired comparison statistics shared by reward evaluation and policy evaluation, and the one confidence-interval
type every report uses (:class:`Interval`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% confidence interval over ``n`` items or seeds (``low`` / ``high`` NaN when ``n``
    is too small for one). Written to files as ``mean``, ``ci_low``, ``ci_high``, ``n``."""

    mean: float
    low: float
    high: float
    n: int

    def to_json(self) -> dict:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n}

    @classmethod
    def from_json(cls, row: dict) -> Interval:
        return cls(row["mean"], row["ci_low"], row["ci_high"], row["n"])


@dataclass(frozen=True)
class WinRate(Interval):
    """A paired win rate (ties count half) with its interval, and the share of tied pairs."""

    tie_rate: float = float("nan")

    def to_json(self) -> dict:
        return {**super().to_json(), "tie_rate": self.tie_rate}


def mean_interval(values) -> Interval:
    """Mean and 95% t-interval over seeds (the interval is NaN with fewer than two)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return Interval(float(x.mean()) if len(x) else float("nan"), float("nan"), float("nan"), len(x))
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return Interval(float(x.mean()), float(x.mean() - half), float(x.mean() + half), len(x))


def win_outcomes(a_scores, b_scores) -> np.ndarray:
    """Per item: 1 if ``a`` beats ``b``, 0.5 for a tie, 0 otherwise. With ``(items, samples)`` scores, sample
    ``j`` of ``a`` meets sample ``j`` of ``b`` and an item's outcome is the mean over its samples."""
    a, b = np.asarray(a_scores, dtype=float), np.asarray(b_scores, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same shape, got {a.shape} and {b.shape}")
    per_sample = np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))
    return per_sample.reshape(len(per_sample), -1).mean(axis=1) if per_sample.ndim else per_sample


def paired_win_rate(a_scores, b_scores, seed: int = 0) -> WinRate:
    """How often ``a`` beats ``b`` on the same items (ties count half), with a 95% BCa bootstrap CI over
    items (``scipy.stats.bootstrap``) and the tie rate. Scores may be ``(items, samples)``: sample ``j`` of
    ``a`` meets sample ``j`` of ``b``, an item's outcome is the mean over its samples, and the bootstrap
    resamples items (samples of one prompt are not independent)."""
    from scipy.stats import bootstrap

    outcome = win_outcomes(a_scores, b_scores)
    a, b = np.asarray(a_scores, dtype=float), np.asarray(b_scores, dtype=float)
    n = len(outcome)
    if n >= 2 and np.ptp(outcome) > 0:
        ci = bootstrap((outcome,), np.mean, confidence_level=0.95, n_resamples=4999,
                       random_state=np.random.default_rng(seed), method="BCa").confidence_interval
        low, high = float(ci.low), float(ci.high)
    else:  # every outcome identical: the interval degenerates to the point
        low = high = float(outcome.mean()) if n else float("nan")
    return WinRate(float(outcome.mean()), low, high, n, float((a == b).mean()) if n else float("nan"))


def score_summary(scores, responses) -> dict:
    """Mean oracle score over non-empty responses and the share of empty ones. An empty response is scored with
    the oracle's ``empty_score`` sentinel (e.g. -1000), which ranks it last in a comparison but would swamp a
    mean, so it is kept out of the mean and counted instead."""
    s = np.asarray(scores, dtype=float).ravel()
    empty = np.asarray([not str(r).strip() for row in responses for r in (row if isinstance(row, list) else [row])])
    if empty.shape != s.shape:
        raise ValueError(f"{s.size} scores but {empty.size} responses")
    kept = s[~empty]
    return {"mean": float(kept.mean()) if kept.size else float("nan"), "empty_rate": float(empty.mean()) if s.size else float("nan")}


def proportion_interval(successes: int, n: int) -> Interval:
    """A share with its 95% Wilson interval (scipy), NaN when ``n`` is 0."""
    from scipy.stats import binomtest

    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    ci = binomtest(int(successes), int(n)).proportion_ci(method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high), n)
