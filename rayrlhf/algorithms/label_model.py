"""The label model (docs/method.md, "Model labels"): how far to trust each source, learned from people's answers.

Each of the K responses of a prompt has W source scores. Per prompt each source's scores are standardised over the
K responses (z-scores; a source constant on the prompt gives 0): a source's offset and spread between prompts say
nothing about which response is better, and one prompt with extreme scores (an empty response) must not decide a
source's weight. (Standardising by each source's spread over all prompts instead let such prompts dominate: on 598
quickstart prompts the fitted model fell from 0.95 to 0.87 best-over-worst accuracy as its training set grew from
64 to 256 prompts, while per-prompt z-scores held 0.96, at or above the best single source, BERTScore.) The model is
Bradley-Terry on those features,
``P(a preferred to b) = sigmoid(w . (x_a - x_b))``, fitted by L2-regularised logistic regression (scikit-learn)
on every pair a person's answer states (the 2K-3 a best/worst implies), each answer weighted once. A model label
for a prompt is the ranking by ``w . x``; its confidence is the smallest probability among the pairs that label
states (best over each other, each other over worst): the question a label answers is which response is best and
which worst, so a label is only as sure as its closest call (optionally leaving out a pair of one text twice, whose
probability is 0.5 and whose order means nothing: ``oracle.confidence_skips_identical``).

The same functions score two baselines on held-out answers: each single source (a one-hot weight) and the
unweighted mean of the standardised sources (all weights 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ENSEMBLE_ARM = "ensemble"  # transfer.ensemble: the arm whose Best-of-N ranks by the label model's combined score
MIN_SCALE = 1e-12  # a source whose scores do not vary on a prompt has z-scores 0 there


@dataclass(frozen=True)
class LabelExample:
    """One answered prompt: ``scores[k][w]`` is source w's score of response k, ``pairs`` the (chosen, rejected)
    response indices the answer states."""

    scores: tuple[tuple[float, ...], ...]
    pairs: tuple[tuple[int, int], ...]

    def to_json(self) -> dict:
        return {"scores": [list(r) for r in self.scores], "pairs": [list(p) for p in self.pairs]}

    @classmethod
    def from_json(cls, row: dict) -> LabelExample:
        return cls(tuple(tuple(float(v) for v in r) for r in row["scores"]), tuple((int(a), int(b)) for a, b in row["pairs"]))


@dataclass(frozen=True)
class LabelModel:
    """Per-source weights on per-prompt standardised scores (:func:`features`)."""

    sources: tuple[str, ...]
    weights: tuple[float, ...]

    def combined(self, scores: Sequence[Sequence[float]]) -> np.ndarray:
        """The model's score of each of a prompt's K responses (only differences within the prompt mean anything)."""
        return features(scores) @ np.asarray(self.weights)

    def prob(self, scores: Sequence[Sequence[float]], a: int, b: int) -> float:
        """P(response ``a`` is preferred to response ``b``)."""
        s = self.combined(scores)
        return float(_sigmoid(s[a] - s[b]))


@dataclass(frozen=True)
class ModelLabel:
    """A prompt's label from the model: ``ranking`` best first, ``confidence`` the least sure of its stated pairs,
    ``pair_probs`` the model's probability of each pair it states and ``ties`` whether that pair is one response
    text twice (every source scores both the same), both in :func:`implied_pairs` order."""

    ranking: tuple[int, ...]
    confidence: float
    pair_probs: tuple[float, ...] = ()
    ties: tuple[bool, ...] = ()

    def pairs_at(self, threshold: float) -> tuple[tuple[int, int], ...]:
        """The stated pairs of two different texts the model gives probability at least ``threshold``."""
        return tuple(p for p, prob, tie in zip(implied_pairs(self.ranking), self.pair_probs, self.ties, strict=True)
                     if prob >= threshold and not tie)

    def surest(self) -> float:
        """The largest probability among its pairs of two different texts (0.5 when every pair is a tie)."""
        return max((p for p, tie in zip(self.pair_probs, self.ties, strict=True) if not tie), default=0.5)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def features(scores: Sequence[Sequence[float]]) -> np.ndarray:
    """(K, W) scores standardised per source over the prompt's K responses (0 where a source is constant)."""
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"need (K, W) scores, got shape {x.shape}")
    centred, spread = x - x.mean(axis=0, keepdims=True), x.std(axis=0, keepdims=True)
    return np.where(spread > MIN_SCALE, centred / np.maximum(spread, MIN_SCALE), 0.0)


def implied_pairs(ranking: Sequence[int]) -> list[tuple[int, int]]:
    """The 2K-3 pairs a best-first ranking's best and worst state (best over each other, each other over worst)."""
    r = list(ranking)
    return [(r[0], j) for j in r[1:]] + [(i, r[-1]) for i in r[1:-1]]


def ensemble_scores(model: LabelModel | None, scores: Sequence[Sequence[float]]) -> list[float]:
    """The ensemble arm's score of each of N responses (``scores``: N x W): the label model's combined score, or
    before it is fitted the unweighted mean of the sources standardised over the N."""
    if model is not None:
        return [float(v) for v in model.combined(scores)]
    return [float(v) for v in features(scores).mean(axis=1)]


def fit_label_model(sources: Sequence[str], examples: Sequence[LabelExample], l2: float = 1.0) -> LabelModel | None:
    """Fit the weights on ``examples`` (None without a single stated pair). Each pair enters in both orientations
    (no intercept: a pair's order is a coin flip to the model), and an answer's n pairs weigh 1/n each."""
    from sklearn.linear_model import LogisticRegression

    examples = [e for e in examples if e.pairs]
    if not examples:
        return None
    x, y, w = pair_differences(examples)
    fit = LogisticRegression(C=1.0 / l2, fit_intercept=False).fit(x, y, sample_weight=w)
    return LabelModel(tuple(sources), tuple(float(v) for v in fit.coef_[0]))


def pair_differences(examples: Sequence[LabelExample], featurize=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every stated pair in both orientations: feature differences (``featurize``, default :func:`features`), 1 where
    the first of the two is preferred, and the pair's weight (an answer's n pairs weigh 1/n each)."""
    featurize = featurize or features
    diffs, weights = [], []
    for e in examples:
        x = featurize(e.scores)
        diffs += [x[a] - x[b] for a, b in e.pairs]
        weights += [1.0 / len(e.pairs)] * len(e.pairs)
    d, w = np.asarray(diffs), np.asarray(weights)
    return np.concatenate([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))], np.r_[w, w]


def mean_label_model(sources: Sequence[str]) -> LabelModel:
    """The baseline labeller: every source's per-prompt z-score weighted 1 (``oracle.labeller: mean``)."""
    return LabelModel(tuple(sources), (1.0,) * len(sources))


def model_label(model: LabelModel, scores: Sequence[Sequence[float]], skip_identical: bool = False) -> ModelLabel:
    """The model's ranking of the K responses (stable on ties) and its confidence (:func:`implied_pairs`). With
    ``skip_identical`` the confidence leaves out pairs of responses every source scores the same (one text twice:
    their order is a coin flip to everyone and trains nothing), unless every pair is such a pair."""
    s = model.combined(scores)
    ranking = tuple(int(i) for i in np.argsort(-s, kind="stable"))
    pairs = implied_pairs(ranking)
    probs = tuple(float(_sigmoid(s[a] - s[b])) for a, b in pairs)
    ties = tuple(list(scores[a]) == list(scores[b]) for a, b in pairs)
    distinct = [p for p, tie in zip(probs, ties, strict=True) if not tie]
    return ModelLabel(ranking, min(distinct) if skip_identical and distinct else min(probs), probs, ties)


def pair_probs(model: LabelModel, examples: Sequence[LabelExample]) -> np.ndarray:
    """The model's probability of each stated pair's order, over ``examples`` (1 = sure and right)."""
    out = []
    for e in examples:
        s = model.combined(e.scores)
        out += [float(_sigmoid(s[a] - s[b])) for a, b in e.pairs]
    return np.asarray(out)


def weighting_accuracy(weights: Sequence[float], examples: Sequence[LabelExample]) -> float:
    """Share of stated pairs that ``weights . features`` orders as the answer does (an exact tie counts 1/2)."""
    hits = []
    for e in examples:
        s = features(e.scores) @ np.asarray(weights, dtype=float)
        hits += [1.0 if s[a] > s[b] else 0.5 if np.isclose(s[a], s[b]) else 0.0 for a, b in e.pairs]
    return float(np.mean(hits)) if hits else float("nan")


@dataclass(frozen=True)
class Calibration:
    """How well stated probabilities match outcomes: Brier score, expected calibration error and the reliability
    table (per bin: mean predicted probability, observed frequency, count)."""

    brier: float
    ece: float
    accuracy: float
    count: int
    bins: tuple[tuple[float, float, int], ...]


def calibration(probs: Sequence[float], outcomes: Sequence[int], num_bins: int = 10) -> Calibration:
    """Brier score (scikit-learn), ECE over ``num_bins`` equal-width bins (sum over bins of share of predictions x
    |observed frequency - mean prediction|) and accuracy at 1/2."""
    from sklearn.metrics import brier_score_loss

    p, y = np.asarray(probs, dtype=float), np.asarray(outcomes, dtype=int)
    if len(p) == 0:
        return Calibration(float("nan"), float("nan"), float("nan"), 0, ())
    which = np.minimum((p * num_bins).astype(int), num_bins - 1)
    bins, ece = [], 0.0
    for b in range(num_bins):
        in_bin = which == b
        if in_bin.any():
            mean_p, freq = float(p[in_bin].mean()), float(y[in_bin].mean())
            bins.append((mean_p, freq, int(in_bin.sum())))
            ece += in_bin.mean() * abs(freq - mean_p)
    accuracy = float(np.mean((p > 0.5) == (y == 1)))
    return Calibration(float(brier_score_loss(y, p, pos_label=1)), float(ece), accuracy, len(p), tuple(bins))


def held_out_calibration(probs: Sequence[float]) -> Calibration:
    """:func:`calibration` of a model's probabilities of the stated pairs' orders (:func:`pair_probs`) on answers
    it was not fitted on, each pair in both orientations (so a model that always says 1 is not rewarded for it)."""
    p = np.asarray(probs, dtype=float)
    return calibration(np.r_[p, 1 - p], np.r_[np.ones(len(p), dtype=int), np.zeros(len(p), dtype=int)])


def pair_agreement(labelled: Sequence[tuple[int, int]], stated: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """How many of the ``labelled`` (chosen, rejected) pairs the ``stated`` pairs order the same way, among those
    the stated pairs order at all: ``(agreeing, compared)``."""
    same, flipped = set(stated), {(b, a) for a, b in stated}
    agree = sum(p in same for p in labelled)
    return agree, agree + sum(p in flipped for p in labelled)


def score_agreement(labelled: Sequence[tuple[int, int]], scores: Sequence[float]) -> tuple[int, int]:
    """:func:`pair_agreement` against a reward's ``scores`` of the K responses (a tie orders nothing)."""
    stated = [(a, b) for a, b in labelled if not np.isclose(scores[a], scores[b])]
    return sum(scores[a] > scores[b] for a, b in stated), len(stated)
