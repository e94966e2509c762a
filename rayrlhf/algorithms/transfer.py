"""Transfer policy selection of empirical TPO (docs/method.md steps 2-4), as pure functions.

Arms are the W source rewards plus ``self`` (no transfer). Within an iteration, prompts are handled in
rounds of ``refresh_every`` prompts: in the first round every prompt gets an arm uniformly at random; after
each round the statistics are refreshed and every prompt of the next round gets the UCB-argmax arm. The
statistics are reset at the start of every iteration (the policy changed, so old win rates are stale).

A source arm's credit for one prompt is :func:`transfer_credit`: 1 when the oracle's best response sits in a
transfer slot, 0 when it sits in an online slot, and for a tie for best the share of tied-best slots that are
transfer slots (docs/method.md step 4), so a source that merely copies the online policy earns ``Rp/K`` on average.

The ``self`` arm has no transfer slots; each prompt it receives credits it with a constant bar,
:func:`self_win_rate`: ``Rp/K + 0.05`` by default (0.55 for the paper's Rp/K = 1/2), i.e. 0.05 above what a
copy of the online policy earns. It enters UCB like the others, exploration bonus included, as in the
authors' code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SELF_ARM = "self"
PairStrategy = Literal["max_min", "max_random", "random"]
PairSet = Literal["best_worst", "implied", "ranking", "listwise"]


@dataclass
class ArmStats:
    """Per-arm counts and (possibly fractional) wins within one iteration."""

    arms: tuple[str, ...]
    counts: dict[str, float] = field(default_factory=dict)  # whole prompts, or discounted ones (transfer.carry)
    wins: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.arms)) != len(self.arms) or not self.arms:
            raise ValueError(f"arms must be distinct and non-empty, got {self.arms}")
        for arm in self.arms:
            self.counts.setdefault(arm, 0)
            self.wins.setdefault(arm, 0.0)

    def record(self, arm: str, credit: float, self_win_rate: float) -> None:
        """Count one annotated prompt for ``arm`` with its :func:`transfer_credit` in [0, 1]; ``self`` earns
        ``self_win_rate`` instead."""
        if not 0.0 <= credit <= 1.0:
            raise ValueError(f"a prompt's credit must lie in [0, 1], got {credit}")
        self.counts[arm] += 1
        self.wins[arm] += self_win_rate if arm == SELF_ARM else float(credit)

    def win_rates(self) -> dict[str, float]:
        """``wins / count`` per arm (NaN for an arm not yet played)."""
        return {a: (self.wins[a] / self.counts[a] if self.counts[a] else math.nan) for a in self.arms}

    def plus(self, other: ArmStats) -> ArmStats:
        """Counts and wins of both (the same arms)."""
        return ArmStats(self.arms, {a: self.counts[a] + other.counts[a] for a in self.arms},
                        {a: self.wins[a] + other.wins[a] for a in self.arms})

    def discounted(self, factor: float) -> ArmStats:
        """Counts and wins times ``factor`` (``transfer.carry``: fractional counts, the evidence of earlier
        iterations weighing less)."""
        return ArmStats(self.arms, {a: self.counts[a] * factor for a in self.arms}, {a: self.wins[a] * factor for a in self.arms})

    def to_dict(self) -> dict:
        return {"arms": list(self.arms), "counts": dict(self.counts), "wins": dict(self.wins)}

    @classmethod
    def from_dict(cls, state: dict) -> ArmStats:
        return cls(tuple(state["arms"]), dict(state["counts"]), dict(state["wins"]))


def ucb_values(stats: ArmStats, c: float = 1.0) -> dict[str, float]:
    """``V_w = wins_w / n_w + c / sqrt(n_w)``; an arm never played has ``V = +inf`` (it is tried first)."""
    return {
        a: (stats.wins[a] / stats.counts[a] + c / math.sqrt(stats.counts[a]) if stats.counts[a] else math.inf)
        for a in stats.arms
    }


def assign_round(
    num_prompts: int, stats: ArmStats, *, first_round: bool, c: float, rng: np.random.Generator
) -> list[str]:
    """Arms for the next ``num_prompts`` prompts: uniform at random in the iteration's first round, else the
    UCB-argmax arm for all of them (ties go to the earliest arm in ``stats.arms``).

    While some arms have no answered prompt yet (their UCB is infinite: with sparse labels, or when the first round
    missed them), the round is shared among those arms alone, in turn from a random order: every arm is tried
    before any is repeated, as the uniform start means, instead of the whole round going to the first such arm in
    config order."""
    if first_round:
        return [stats.arms[i] for i in rng.integers(0, len(stats.arms), size=num_prompts)]
    untried = [a for a in stats.arms if stats.counts[a] == 0]
    if untried:
        order = [untried[i] for i in rng.permutation(len(untried))]
        return [order[i % len(order)] for i in range(num_prompts)]
    values = ucb_values(stats, c)
    best = max(stats.arms, key=lambda a: values[a])  # max() keeps the first of equal values
    return [best] * num_prompts


def replace_with_best_of_n(
    responses: Sequence[str], extra_responses: Sequence[str], extra_scores: Sequence[float], num_replace: int
) -> tuple[list[str], list[bool]]:
    """Best-of-N step (docs/method.md step 3): put the top-``num_replace`` of the N extra responses, ranked by the
    source's scores (best first, ties to the earlier one), into the first ``num_replace`` of the K slots.

    Returns the new K responses and the mask of transfer slots. Best-of-N under ``r_w`` approximates the
    source's KL-optimal policy ``pi*_{r_w}`` without training it.
    """
    if len(extra_responses) != len(extra_scores):
        raise ValueError(f"{len(extra_responses)} extra responses but {len(extra_scores)} scores")
    if not 0 <= num_replace <= min(len(responses), len(extra_responses)):
        raise ValueError(
            f"num_replace={num_replace} must be between 0 and min(K={len(responses)}, N={len(extra_responses)})"
        )
    order = np.argsort(-np.asarray(extra_scores, dtype=float), kind="stable")[:num_replace]
    new = [extra_responses[i] for i in order] + list(responses[num_replace:])
    return new, [i < num_replace for i in range(len(responses))]


def rank_by_score(scores: Sequence[float]) -> list[int]:
    """Indices from best to worst (stable: equal scores keep their order)."""
    return [int(i) for i in np.argsort(-np.asarray(scores, dtype=float), kind="stable")]


SELF_MARGIN = 0.05  # the self arm's bar above Rp/K


def self_win_rate(explicit: float | None, num_replace: int, responses_per_prompt: int) -> float:
    """The ``self`` arm's constant credit: ``explicit`` when given, else ``Rp/K + 0.05``. Only a bar above
    ``Rp/K`` (what a source copying the online policy earns) means "transfer must beat the online policy";
    :class:`rayrlhf.config.Config` refuses an explicit value at or below it."""
    return explicit if explicit is not None else num_replace / responses_per_prompt + SELF_MARGIN


SCORE_TOLERANCE = 1e-9  # two scores this close (absolute, or relative to their size) are equal: a tie


def same_score(a: float, b: float) -> bool:
    """Equal but for rounding (``1.9000000000000004`` and ``1.9``): within :data:`SCORE_TOLERANCE`, absolute or
    relative (docs/method.md, "Credit: who won, with ties split")."""
    return math.isclose(a, b, rel_tol=SCORE_TOLERANCE, abs_tol=SCORE_TOLERANCE)


def tied_best(best_index: int, responses: Sequence[str], scores: Sequence[float] | None = None) -> list[int]:
    """Slots tied with the oracle's best: identical text, or (when the oracle's scores are known) the same score
    within :data:`SCORE_TOLERANCE`."""
    return [i for i, r in enumerate(responses) if i == best_index or r == responses[best_index]
            or (scores is not None and same_score(scores[i], scores[best_index]))]


def transfer_credit(best_index: int, transfer_mask: Sequence[bool], responses: Sequence[str],
                    scores: Sequence[float] | None = None) -> float:
    """docs/method.md step 4: the arm's credit for one prompt, the share of the tied-best slots (:func:`tied_best`)
    that are transfer slots. Without ties it is 1 when the best response sits in a transfer slot, else 0;
    giving a tie to whichever slot sorts first would credit every source with the online policy's own wins."""
    if len(transfer_mask) != len(responses):
        raise ValueError(f"{len(transfer_mask)} transfer-mask entries for {len(responses)} responses")
    tied = tied_best(best_index, responses, scores)
    return sum(bool(transfer_mask[i]) for i in tied) / len(tied)


def crediting_answers(credit: str, people: Sequence, labelled: Sequence) -> list:
    """The answers that credit a round's arms, by item (None: no credit): ``people``'s answers alone with
    ``transfer.credit: people``, or every labelled item's (``labelled``: people's with the label model's filled in)
    with ``labels``."""
    if credit not in ("people", "labels"):
        raise ValueError(f"transfer.credit must be 'people' or 'labels', got {credit!r}")
    return list(labelled if credit == "labels" else people)


def choose_pair(ranking: Sequence[int], strategy: PairStrategy, rng: np.random.Generator,
                partial: bool = False) -> tuple[int, int]:
    """(chosen, rejected) indices from the oracle's ranking (best first).

    ``max_min``: best vs worst (the paper). ``max_random``: best vs a uniformly chosen other response.
    ``random``: two distinct responses at random, the better-ranked one chosen.

    A ``partial`` ranking (a person's best and worst: ``[best, <the others in display order>, worst]``) states
    only that the best beats every other and every other beats the worst; ``random`` then draws uniformly from
    those 2K-3 stated pairs, never two of the unranked middle (whose order is only the display order).
    """
    if len(ranking) < 2:
        raise ValueError(f"need at least 2 ranked responses, got {len(ranking)}")
    if strategy == "max_min":
        return ranking[0], ranking[-1]
    if strategy == "max_random":
        return ranking[0], ranking[int(rng.integers(1, len(ranking)))]
    if strategy == "random":
        if partial:
            stated = [(0, j) for j in range(1, len(ranking))] + [(i, len(ranking) - 1) for i in range(1, len(ranking) - 1)]
            i, j = stated[int(rng.integers(len(stated)))]
        else:
            i, j = sorted(rng.choice(len(ranking), size=2, replace=False).tolist())
        return ranking[i], ranking[j]
    raise ValueError(f"unknown pair strategy {strategy!r}; choose max_min, max_random or random")


def stated_pairs(ranking: Sequence[int], pairs: PairSet, strategy: PairStrategy, rng: np.random.Generator,
                 partial: bool = False) -> list[tuple[int, int]]:
    """Every (chosen, rejected) pair of indices an answer states, as ``transfer.pairs`` asks (docs/method.md,
    "Training pairs"):

    - ``best_worst``: one pair, :func:`choose_pair` with ``strategy`` (the paper: best vs worst);
    - ``implied``: the 2K-3 pairs a best/worst answer implies, the best over each other and each other over the
      worst;
    - ``ranking``: all K(K-1)/2 pairs of a full ranking, each better-ranked response over each worse one; a
      ``partial`` answer (a person's best and worst) states no more than its implied pairs;
    - ``listwise``: the pairs inside :func:`stated_lists`' Plackett-Luce factors (those of ``ranking``).
    """
    if pairs == "best_worst":
        return [choose_pair(ranking, strategy, rng, partial)]
    k = len(ranking)
    if k < 2:
        raise ValueError(f"need at least 2 ranked responses, got {k}")
    if pairs == "listwise":
        return [(c, j) for c, rejected in stated_lists(ranking, partial) for j in rejected]
    if pairs == "implied" or (pairs == "ranking" and partial):
        return [(ranking[0], ranking[j]) for j in range(1, k)] + [(ranking[i], ranking[-1]) for i in range(1, k - 1)]
    if pairs == "ranking":
        return [(ranking[i], ranking[j]) for i in range(k) for j in range(i + 1, k)]
    raise ValueError(f"unknown transfer.pairs {pairs!r}; choose best_worst, implied, ranking or listwise")


def stated_lists(ranking: Sequence[int], partial: bool = False) -> list[tuple[int, tuple[int, ...]]]:
    """``transfer.pairs: listwise``: the Plackett-Luce factors an answer states, each ``(chosen, every response ranked
    below it)``. A full ranking's K-1 factors multiply to its Plackett-Luce likelihood, ``prod_k exp(r_tau(k)) /
    sum_{j>=k} exp(r_tau(j))`` (Rafailov et al. 2023, appendix A.3; docs/method.md, "Training pairs"). A ``partial``
    answer (a person's best and worst) states the best's factor, over all K-1 others, and each other over the worst
    (factors of one rejected response: pairs); nothing about the unranked middle's order."""
    k = len(ranking)
    if k < 2:
        raise ValueError(f"need at least 2 ranked responses, got {k}")
    if partial:
        return [(ranking[0], tuple(ranking[1:]))] + [(ranking[i], (ranking[-1],)) for i in range(1, k - 1)]
    return [(ranking[i], tuple(ranking[i + 1 :])) for i in range(k - 1)]
