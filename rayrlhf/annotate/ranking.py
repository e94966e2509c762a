"""Pure rules for one query's answers: the shuffled display order, checking a choice, combining overlap.

A ranking is best first, worst last, as indices into ``Query.responses`` (rayrlhf.core.records). Annotators see
the responses in a per-query random order (``display_order``) and answer in display slots; ``to_original``
maps back. Choosing only the best and the worst of K gives the *partial* ranking
``[best, <the others in displayed order>, worst]``: the trainer uses only its ends (docs/method.md step 3).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import combinations


def display_order(query_id: str, k: int) -> list[int]:
    """Slot ``s`` on screen shows response ``order[s]``: a permutation seeded by the query id (stable on resume)."""
    return random.Random(f"display:{query_id}").sample(range(k), k)


def check_choice(k: int, best: int | None, worst: int | None, ranking: list[int] | None, skip: bool) -> tuple[list[int] | None, bool]:
    """(ranking in display slots or None for a skip, partial?) for one answer; ValueError names what is wrong."""
    given = [name for name, v in (("best", best), ("worst", worst), ("ranking", ranking)) if v is not None]
    if skip:
        if given:
            raise ValueError(f"a skip carries no choice; drop {', '.join(given)}")
        return None, False
    if ranking is not None:
        if best is not None or worst is not None:
            raise ValueError("give either `ranking` or `best` and `worst`, not both")
        if sorted(ranking) != list(range(k)):
            raise ValueError(f"`ranking` must order every response once: a permutation of 0..{k - 1}, got {ranking}")
        return list(ranking), False
    if best is None:
        raise ValueError("give `best` and `worst` (response numbers), a full `ranking`, or `skip`: true")
    if worst is None and k == 2:
        worst = 1 - best
    for name, v in (("best", best), ("worst", worst)):
        if v is None or not 0 <= v < k:
            raise ValueError(f"`{name}` must be a response number from 0 to {k - 1}, got {v}")
    if best == worst:
        raise ValueError("`best` and `worst` must be different responses")
    middle = [s for s in range(k) if s not in (best, worst)]
    return [best, *middle, worst], k > 2


def to_original(order: list[int], slots: list[int] | None) -> list[int] | None:
    return None if slots is None else [order[s] for s in slots]


@dataclass(frozen=True)
class Vote:
    """One person's answer to one query, in original indices (``ranking`` None = skipped)."""

    annotator: str
    ranking: list[int] | None
    partial: bool
    seconds: float | None


def _pair_agreement(picks: list[int]) -> float | None:
    pairs = list(combinations(picks, 2))
    return None if not pairs else sum(a == b for a, b in pairs) / len(pairs)


def combine(votes: list[Vote], k: int, order: list[int]) -> tuple[list[int] | None, dict]:
    """One ranking from several people's answers (overlap), and how much they agreed.

    Borda points (best 1, worst 0, a full ranking's position in between, the unranked middle of a
    best/worst answer 0.5) averaged over the non-skip votes; ties go to more best votes, then fewer worst
    votes, then the displayed order (random per query, so ties favour no source). All skips: None."""
    ranked = [v for v in votes if v.ranking is not None]
    meta: dict = {"votes": len(votes), "skips": len(votes) - len(ranked)}
    if not ranked:
        return None, meta
    if len(ranked) == 1:
        return list(ranked[0].ranking), {**meta, "partial": ranked[0].partial}
    points = [0.0] * k
    for v in ranked:
        for pos, i in enumerate(v.ranking):
            points[i] += 0.5 if v.partial and 0 < pos < k - 1 else (k - 1 - pos) / (k - 1)
    best_votes = [sum(v.ranking[0] == i for v in ranked) for i in range(k)]
    worst_votes = [sum(v.ranking[-1] == i for v in ranked) for i in range(k)]
    slot = {i: s for s, i in enumerate(order)}
    ranking = sorted(range(k), key=lambda i: (-points[i], -best_votes[i], worst_votes[i], slot[i]))
    agreement = {"agreement_best": _pair_agreement([v.ranking[0] for v in ranked]),
                 "agreement_worst": _pair_agreement([v.ranking[-1] for v in ranked])}
    return ranking, {**meta, "partial": any(v.partial for v in ranked), **agreement}
