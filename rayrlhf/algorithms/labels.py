"""Simulated annotator answers from reward scores (docs/method.md step 4: "best and worst of these K").

``deterministic`` ranks by score (the paper's setting). ``bradley_terry`` samples a Plackett-Luce ranking
with temperature T: sorting ``score/T + Gumbel noise`` draws exactly from Plackett-Luce, and for two
responses it gives the Bradley-Terry label ``P(a1 > a2) = sigmoid((r1 - r2) / T)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from rayrlhf.algorithms.label_model import score_agreement
from rayrlhf.algorithms.transfer import rank_by_score, same_score

LabelMode = Literal["deterministic", "bradley_terry"]


def oracle_ranking(
    scores: Sequence[float],
    mode: LabelMode,
    temperature: float,
    rng: np.random.Generator,
    abstain_margin: float = 0.0,
) -> list[int] | None:
    """Indices best-first, or ``None`` (abstain) when all scores lie within ``abstain_margin``
    (with the default 0, only when they are all equal, but for rounding (:func:`same_score`): there is nothing to
    learn from the query)."""
    s = np.asarray(scores, dtype=float)
    if len(s) < 2:
        raise ValueError(f"an annotation query needs at least 2 responses, got {len(s)}")
    if s.max() - s.min() <= abstain_margin or same_score(float(s.max()), float(s.min())):
        return None
    if mode == "deterministic":
        return rank_by_score(s)
    if mode == "bradley_terry":
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        return rank_by_score(s / temperature + rng.gumbel(size=len(s)))
    raise ValueError(f"unknown label mode {mode!r}; choose 'deterministic' or 'bradley_terry'")


def person_agreement(
    labelled: Sequence[tuple[int, int]], scores: Sequence[float], mode: LabelMode, temperature: float,
) -> tuple[float, int]:
    """How many of the ``labelled`` (chosen, rejected) pairs a fresh simulated person (:func:`oracle_ranking` on
    ``scores``) is expected to order the same way, and over how many pairs: ``(expected agreeing, compared)``.

    ``deterministic``: :func:`~rayrlhf.algorithms.label_model.score_agreement` (the pairs ``scores`` order, ties left
    out), each agreeing or not. ``bradley_terry``: every pair, agreeing with probability ``sigmoid((r_a - r_b) / T)`` (a
    Plackett-Luce ranking orders two responses as a Bradley-Terry label does), so a tie counts one half.
    """
    if mode == "deterministic":
        agree, compared = score_agreement(labelled, scores)
        return float(agree), compared
    if mode == "bradley_terry":
        s = np.asarray(scores, dtype=float)
        gaps = np.array([s[a] - s[b] for a, b in labelled], dtype=float)
        return float(np.sum(1.0 / (1.0 + np.exp(-gaps / temperature)))), len(gaps)
    raise ValueError(f"unknown label mode {mode!r}; choose 'deterministic' or 'bradley_terry'")
