"""What the labelling rules measure about a prompt (rayrlhf.labelling): how much the sources disagree on its K
responses (where the imperfect sources cannot settle the question, a person's answer carries the most information:
query-by-committee, Seung et al. 1992, with the sources as the committee), and whether there is anything to rank.
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
