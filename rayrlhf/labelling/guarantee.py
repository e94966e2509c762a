"""A confidence threshold above which the label model's labels are at least ``target`` accurate, with probability at
least ``1 - delta`` over the audit (docs/method.md, "Model labels at a stated accuracy").

Selective labelling with guaranteed risk, in the Learn-then-Test form (Angelopoulos, Bates, Candes, Jordan and Lei
2021, "Learn then Test"; the selection problem is Geifman and El-Yaniv 2017): for each threshold ``t`` of a fixed
grid, the null hypothesis "the model's labels on prompts it is at least ``t`` confident about are less than
``target`` accurate" is tested on the audited prompts at or above ``t`` with a p-value for losses in [0, 1]
(``oracle.certify_bound``): Hoeffding-Bentkus (Bates, Angelopoulos, Lei, Malik and Jordan 2021, "Distribution-free,
risk-controlling prediction sets") or the betting p-value (:mod:`rayrlhf.labelling.betting`), and the lowest
rejected threshold is the one the model labels at. The nulls are tested so that all the
rejected ones hold together with probability at least ``1 - delta`` (family-wise error): ``bonferroni`` tests each at
``delta / len(grid)``; ``sequence`` is fixed-sequence testing (Westfall and Krishen 2001; Learn then Test allows any
family-wise procedure), each null at ``delta`` in an order set before the audits are looked at, stopping at the
first that is not rejected. The sequence starts at the threshold with the smallest p-value it would get if the
model's own probabilities were right, with as many audits as it would state something on there, both taken on the
answers it was fitted on without their person answers (independent of the audits, so the start cannot favour them;
ties: the higher threshold), and goes down the grid from there; thresholds above the start are not tested. It suits
a model whose probabilities top out below the grid's top, as with noisy people (about 0.9): those thresholds state
nothing, and Bonferroni spends ``delta / 11`` on each.

An audited prompt is one drawn uniformly at random from a round's askable prompts, answered by a person and kept out
of the label model's fit; its loss is the share of the pairs the model's label states, among those the person's
answer orders, that the person orders the other way. What a label states at threshold ``t`` depends on the unit
(``oracle.certify_unit``): ``prompt``, the label's whole best/worst ranking, on prompts whose confidence (its least
sure pair) is at least ``t``; ``pair``, only the pairs of that ranking the model gives probability at least ``t``, on
prompts with at least one such pair (a pair of one text twice states nothing and is never counted). The null at ``t`` is then about the prompts the label states something on, and
the audits that state something at ``t`` are a uniform sample of them. The bound is on the expected agreement per prompt over the
prompts at or above the threshold, for the model as it stands when the round is decided. The audits are exchangeable with the prompts the model labels only as far as the prompts and the
policy's responses do not drift between the rounds they come from: the run checks the realised accuracy with the
simulated oracle (``label_model/oracle_accuracy``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from rayrlhf.algorithms.label_model import LabelExample, LabelModel, ModelLabel, implied_pairs, model_label, pair_agreement
from rayrlhf.labelling.betting import betting_p

GRID = (0.99, 0.98, 0.96, 0.94, 0.92, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)  # fixed in advance; 0.5: every prompt


UNITS = ("prompt", "pair")
TESTS = ("bonferroni", "sequence")
BOUNDS = ("hoeffding_bentkus", "betting")


@dataclass(frozen=True)
class Audited:
    """One audited prompt under the current label model: its confidence there, the share of its label's pairs the
    person orders the same way, and per pair the person orders, the model's probability of it and whether the person
    agrees."""

    confidence: float
    agreement: float
    pairs: tuple[tuple[float, bool], ...] = ()

    @classmethod
    def of(cls, label: ModelLabel, person: Sequence[tuple[int, int]]) -> Audited | None:
        """The audit of ``label`` against the (chosen, rejected) pairs a ``person``'s answer states; None when the
        answer orders none of the label's pairs. A pair of one text twice is left out of the per-pair record."""
        agree, compared = pair_agreement(implied_pairs(label.ranking), person)
        if not compared:
            return None
        stated = set(person)
        pairs = tuple((prob, pair in stated) for pair, prob, tie in
                      zip(implied_pairs(label.ranking), label.pair_probs, label.ties, strict=True)
                      if not tie and (pair in stated or pair[::-1] in stated))
        return cls(label.confidence, agree / compared, pairs)

    def agreement_at(self, threshold: float, unit: str) -> float | None:
        """The agreement of what the label states at ``threshold`` (module docstring), None where it states nothing."""
        if unit == "prompt":
            return self.agreement if self.confidence >= threshold else None
        kept = [agrees for prob, agrees in self.pairs if prob >= threshold]
        return sum(kept) / len(kept) if kept else None

    def claimed_at(self, threshold: float, unit: str) -> float | None:
        """The model's own probability that a person agrees with what the label states at ``threshold``: the mean
        of its probabilities of those pairs (None where it states nothing); the person's answer is not used."""
        probs = [prob for prob, _ in self.pairs]
        if unit == "prompt":
            kept = probs if self.confidence >= threshold else []
        else:
            kept = [prob for prob in probs if prob >= threshold]
        return sum(kept) / len(kept) if kept else None


def audit(model: LabelModel, examples: Sequence[LabelExample], skip_identical: bool = False) -> list[Audited]:
    """``examples`` as ``model`` labels them, each against its person's answer (those whose answer orders none of
    the label's pairs left out)."""
    audited = (Audited.of(model_label(model, ex.scores, skip_identical), ex.pairs) for ex in examples)
    return [a for a in audited if a is not None]


@dataclass(frozen=True)
class Certificate:
    """The certified threshold (None: no threshold of the grid passes, so the model labels nothing), the lower
    confidence bound on the accuracy of labels at or above it, the audits it rests on (``audited`` in all,
    ``covered`` those the label states something on at the threshold) and their mean agreement there, and the unit
    a label's statement is cut at (``prompt`` or ``pair``). With no threshold certified, ``bound``
    and ``accuracy`` are those of every audit (None with no audits), at the same level."""

    threshold: float | None
    bound: float
    audited: int
    covered: int
    accuracy: float | None
    target: float
    delta: float
    unit: str = "prompt"

    def to_json(self) -> dict:
        return {"threshold": self.threshold, "bound": self.bound, "audited": self.audited, "covered": self.covered,
                "accuracy": self.accuracy, "target": self.target, "delta": self.delta, "unit": self.unit}

    @classmethod
    def from_json(cls, row: dict) -> Certificate:
        threshold = row.get("threshold")
        accuracy = row.get("accuracy")
        return cls(None if threshold is None else float(threshold), float(row["bound"]), int(row["audited"]),
                   int(row["covered"]), None if accuracy is None else float(accuracy), float(row["target"]),
                   float(row["delta"]), row.get("unit", "prompt"))


def _kl_bernoulli(a: float, b: float) -> float:
    """KL(Bernoulli(a) || Bernoulli(b)), with 0 log 0 = 0."""
    out = 0.0
    if a > 0:
        out += a * math.log(a / b)
    if a < 1:
        out += (1 - a) * math.log((1 - a) / (1 - b))
    return out


def hoeffding_bentkus_p(mean_loss: float, n: int, alpha: float) -> float:
    """The p-value of "the expected loss exceeds ``alpha``" from ``n`` i.i.d. losses in [0, 1] with mean
    ``mean_loss``: ``min(exp(-n KL(min(mean, alpha) || alpha)), e P(Binomial(n, alpha) <= ceil(n mean)))``, capped at 1
    (Bates et al. 2021, Proposition 3)."""
    if n <= 0 or alpha >= 1.0:
        return 1.0
    hoeffding = math.exp(-n * _kl_bernoulli(min(mean_loss, alpha), alpha))
    bentkus = math.e * float(binom.cdf(math.ceil(n * mean_loss - 1e-9), n, alpha))
    return min(1.0, hoeffding, bentkus)


def loss_p(agreements: Sequence[float], alpha: float, bound: str = "hoeffding_bentkus", sizing: float = 0.05) -> float:
    """The p-value of "the expected loss exceeds ``alpha``" from audits' ``agreements`` (loss: 1 - agreement) under
    ``bound``: ``hoeffding_bentkus`` (:func:`hoeffding_bentkus_p`, on their mean) or ``betting``
    (:func:`rayrlhf.labelling.betting.betting_p`, on them in order, its bets sized for level ``sizing``). 1 with
    none."""
    if bound not in BOUNDS:
        raise ValueError(f"unknown accuracy bound {bound!r}; choose one of {', '.join(BOUNDS)}")
    if len(agreements) == 0:
        return 1.0
    losses = 1.0 - np.asarray(agreements, dtype=float)
    if bound == "betting":
        return betting_p(losses, alpha, sizing)
    return hoeffding_bentkus_p(float(losses.mean()), len(losses), alpha)


def accuracy_bound(agreements: Sequence[float], delta: float, bound: str = "hoeffding_bentkus",
                   sizing: float | None = None) -> float:
    """The lower ``1 - delta`` confidence bound on the expected agreement: the smallest accuracy ``a`` whose null
    ("accuracy below a") ``bound``'s p-value (:func:`loss_p`, betting's bets sized for ``sizing``, default
    ``delta``) does not reject at ``delta`` (0 with no audits)."""
    sizing = delta if sizing is None else sizing
    if len(agreements) == 0:
        return 0.0
    lo, hi = 0.0, 1.0  # the bound is 1 - the smallest rejected alpha (betting may reject one below the mean loss)
    if loss_p(agreements, 1.0 - 1e-12, bound, sizing) > delta:
        return 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if loss_p(agreements, mid, bound, sizing) <= delta:
            hi = mid
        else:
            lo = mid
    return 1.0 - hi


def rejection_levels(p_values: Sequence[float], delta: float, test: str,
                     order: Sequence[int] | None = None) -> list[float | None]:
    """Per null, the level it was rejected at, or None where it was not (module docstring): ``bonferroni`` each at
    ``delta / len(p_values)``; ``sequence`` at ``delta`` in ``order`` (indices; default as given) until the first
    null not rejected."""
    if test not in TESTS:
        raise ValueError(f"unknown multiple test {test!r}; choose one of {', '.join(TESTS)}")
    if test == "bonferroni":
        return [delta / len(p_values) if p <= delta / len(p_values) else None for p in p_values]
    out: list[float | None] = [None] * len(p_values)
    for i in range(len(p_values)) if order is None else order:
        if p_values[i] > delta:
            break
        out[i] = delta
    return out


def _p_values(audited: Sequence[Audited], thresholds: Sequence[float], target: float, unit: str, bound: str,
              delta: float) -> tuple[list[list[float]], list[float]]:
    """Per threshold, the agreements of the audits that state something there (in the audits' order) and the
    p-value of "accuracy below ``target``" on them under ``bound``, betting's bets sized for ``delta`` (1 with none)."""
    kept_at = [[g for g in (a.agreement_at(t, unit) for a in audited) if g is not None] for t in thresholds]
    return kept_at, [loss_p(k, 1.0 - target, bound, delta) for k in kept_at]


def _expected_p(fitted: Sequence[Audited], threshold: float, target: float, unit: str, audits: int) -> float:
    """The p-value ``audits`` audits would give at ``threshold`` if the model's claims held: its mean claimed
    accuracy there and its share of prompts stating something, both on the answers it was fitted on, whose person
    answers are not used (in-sample agreement overstates the top thresholds, where the fit is surest)."""
    claims = [c for c in (a.claimed_at(threshold, unit) for a in fitted) if c is not None]
    n = round(audits * len(claims) / len(fitted)) if fitted else 0
    return hoeffding_bentkus_p(1.0 - float(np.mean(claims)), n, 1.0 - target) if claims and n else 1.0


def _sequence_order(fitted: Sequence[Audited], thresholds: Sequence[float], target: float, unit: str,
                    audits: int) -> range:
    """The ``sequence`` test's order (indices of ``thresholds``, highest first): from the threshold with the
    smallest expected Hoeffding-Bentkus p-value (ties: the higher) down the grid, whichever bound then tests it
    (the order rests on the fitted answers alone, so it is valid for either)."""
    expected = [_expected_p(fitted, t, target, unit, audits) for t in thresholds]
    start = min(range(len(thresholds)), key=lambda i: (expected[i], i))
    return range(start, len(thresholds))


def certify(audited: Sequence[Audited], target: float, delta: float, grid: Sequence[float] = GRID,
            unit: str = "prompt", test: str = "bonferroni", fitted: Sequence[Audited] = (),
            bound: str = "hoeffding_bentkus") -> Certificate:
    """The lowest threshold of ``grid`` at which the audits reject "accuracy below ``target``" under ``test`` (module
    docstring; ``unit``: what a label states at a threshold; ``fitted``: the answers the model was fitted on, scored
    the same way, which order the ``sequence`` test; ``bound``: the p-value, :func:`loss_p`), with its bound at the
    level it was rejected at (betting's bets sized for ``delta`` whatever the level, as in the test); no threshold
    passes -> ``threshold=None`` and the bound of all the audits at ``delta / len(grid)``."""
    if unit not in UNITS:
        raise ValueError(f"unknown certify unit {unit!r}; choose one of {', '.join(UNITS)}")
    thresholds = sorted(grid, reverse=True)
    kept_at, p_values = _p_values(audited, thresholds, target, unit, bound, delta)
    order = _sequence_order(fitted, thresholds, target, unit, len(audited)) if test == "sequence" else None
    levels = rejection_levels(p_values, delta, test, order)
    passed = [(t, k, level) for t, k, level in zip(thresholds, kept_at, levels, strict=True) if level is not None]
    if not passed:
        kept = [a.agreement for a in audited]
        return Certificate(None, accuracy_bound(kept, delta / len(grid), bound, delta), len(audited), 0,
                           float(np.mean(kept)) if kept else None, target, delta, unit)
    threshold, kept, level = passed[-1]
    return Certificate(threshold, accuracy_bound(kept, level, bound, delta), len(audited), len(kept), float(np.mean(kept)),
                       target, delta, unit)
