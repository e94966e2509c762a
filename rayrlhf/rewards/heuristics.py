"""Generic text heuristics usable as ``python`` sources on any dialogue or summarisation data."""

from __future__ import annotations

import re
from collections.abc import Sequence

REFUSAL = re.compile(
    r"\b(i can(?:no|')t|i won't|i will not|i'm not able|i am not able|sorry|i don't think|not appropriate|"
    r"illegal|harmful|dangerous|please don't|i'd rather not|i would not recommend)\b",
    re.IGNORECASE,
)


def brevity(prompts: Sequence[str], responses: Sequence[str], references=None) -> list[float]:
    """Negative word count: prefers the shorter response."""
    return [-float(len(r.split())) for r in responses]


def refusal_phrases(prompts: Sequence[str], responses: Sequence[str], references=None) -> list[float]:
    """Number of refusal or caution phrases in the response."""
    return [float(len(REFUSAL.findall(r))) for r in responses]
