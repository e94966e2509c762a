"""Reading an LLM judge's answer: pure functions, no HTTP (docs/rewards_service.md, "LLM judges").

Each returns ``None`` when the answer does not state what was asked, clearly and once: the caller counts it and
treats it as an abstention, never as a score. The formats are MT-bench's (Zheng et al. 2023, "Judging LLM-as-a-Judge
with MT-Bench and Chatbot Arena"), which judges are commonly prompted with: a rating ``[[7]]`` (FastChat also reads
``[7]``), a pairwise verdict ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (tie), and, for K responses, a ranking
``[[2, 1, 3]]`` of response numbers, best first. tests/rewards/test_judge.py checks them on recorded GPT-4 answers.
"""

from __future__ import annotations

import re

_DOUBLE = re.compile(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]")
_SINGLE = re.compile(r"\[\s*(\d+(?:\.\d+)?)\s*\]")
_RATING_WORD = re.compile(r"\brating\s*[:=]\s*(\d+(?:\.\d+)?)\b", re.IGNORECASE)
_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_RANKING = re.compile(r"\[\[\s*(\d+(?:\s*[,>]\s*\d+)+)\s*\]\]")


def parse_rating(text: str | None, min_score: float, max_score: float) -> float | None:
    """The rating in ``text``: the first ``[[n]]``, else the first ``[n]``, else ``Rating: n``; ``None`` when there is
    none or it lies outside ``[min_score, max_score]``."""
    if not text:
        return None
    for pattern in (_DOUBLE, _SINGLE, _RATING_WORD):
        found = pattern.search(text)
        if found:
            value = float(found.group(1))
            return value if min_score <= value <= max_score else None
    return None


def parse_verdict(text: str | None) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` (``[[C]]``) from a pairwise answer; ``None`` when it states none, or more than one
    different verdict (an answer that says ``[[A]]`` and ``[[B]]`` has not decided)."""
    verdicts = set(_VERDICT.findall(text or ""))
    if len(verdicts) != 1:
        return None
    (v,) = verdicts
    return "tie" if v == "C" else v


def parse_ranking(text: str | None, k: int) -> list[int] | None:
    """A best-first ranking of K responses, 0-based, from the last ``[[i, j, ...]]`` (1-based response numbers) in
    ``text``; ``None`` unless it orders every response exactly once."""
    found = _RANKING.findall(text or "")
    if not found:
        return None
    numbers = [int(n) for n in re.split(r"\s*[,>]\s*", found[-1].strip())]
    if sorted(numbers) != list(range(1, k + 1)):
        return None
    return [n - 1 for n in numbers]
