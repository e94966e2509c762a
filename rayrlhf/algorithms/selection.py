"""Which prompts get a paid label when the budget is smaller than the prompts (``oracle.labels_per_iteration``).

``random``: a uniform sample of the round. ``disagreement``: the prompts whose K responses the source rewards
rank most differently, i.e. where the imperfect sources cannot settle the question and a person's answer
carries the most information (query-by-committee, Seung et al. 1992, with the sources as the committee).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


def disagreement(scores: Sequence[Sequence[float]]) -> float:
    """How much the sources disagree on one prompt's K responses: the mean over pairs of sources of
    ``(1 - tau) / 2`` with Kendall's tau-b between their scores (0: same order, 1: reversed). A source with
    constant scores has no opinion to disagree with: pairs with it are left out, and a prompt where no two sources
    both have one scores 0 (it ranks with the prompts where the sources agree, not above them). ``scores`` is
    (sources, K)."""
    from scipy.stats import kendalltau

    rows = np.asarray(scores, dtype=float)
    if rows.ndim != 2 or rows.shape[1] < 2:
        raise ValueError(f"need (sources, K >= 2) scores, got shape {rows.shape}")
    if len(rows) < 2:
        return 0.0
    values = []
    for a, b in itertools.combinations(rows, 2):
        tau = kendalltau(a, b).statistic
        if not np.isnan(tau):  # NaN: one of the two is constant
            values.append((1.0 - tau) / 2.0)
    return float(np.mean(values)) if values else 0.0


def all_identical(responses: Sequence[str]) -> bool:
    """The K responses are one text: nothing to rank, so nobody is asked (and nobody paid) for such a prompt."""
    return len(set(responses)) <= 1


def label_quota(total_labels: int, total_prompts: int, seen_after: int, labelled_so_far: int) -> int:
    """Labels for the next round so that labelling keeps pace with ``total_labels`` over ``total_prompts``:
    ``round(total_labels * seen_after / total_prompts) - labelled_so_far`` (never negative)."""
    return max(0, round(total_labels * seen_after / total_prompts) - labelled_so_far)


def select_queries(quota: int, rng: np.random.Generator, disagreements: Sequence[float] | None = None,
                   num_items: int | None = None) -> list[int]:
    """Indices of the items to label: the ``quota`` most disputed (ties broken at random), or ``quota`` at random
    when ``disagreements`` is None (then ``num_items`` says how many there are)."""
    n = len(disagreements) if disagreements is not None else int(num_items or 0)
    quota = min(quota, n)
    if disagreements is None:
        return sorted(rng.choice(n, size=quota, replace=False).tolist())
    order = np.lexsort((rng.random(n), -np.asarray(disagreements, dtype=float)))
    return sorted(int(i) for i in order[:quota])
