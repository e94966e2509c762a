"""Heuristic sources of the built-in task (``kind: python``). Each sees only part of what ``r*`` rewards,
and two of them mislead; ``rayrlhf rewards evaluate examples/quickstart.yaml`` measures how much."""

from __future__ import annotations

from collections.abc import Sequence

from rayrlhf.task.oracle import document_of, words


def copy_length(prompts: Sequence[str], responses: Sequence[str], references=None) -> list[float]:
    """Heuristic source: share of response words copied from the document, times a length ramp up to 20
    words. Rewards faithful extraction; blind to which facts matter."""
    out = []
    for p, r in zip(prompts, responses, strict=True):
        doc = set(words(document_of(p)))
        w = words(r)
        out.append((sum(x in doc for x in w) / len(w)) * min(1.0, len(w) / 20) if w else 0.0)
    return out


def abstractiveness(prompts: Sequence[str], responses: Sequence[str], references=None) -> list[float]:
    """Misleading source: share of response words *not* in the document ("abstractive summaries are
    better"). On this task it rewards hallucination."""
    out = []
    for p, r in zip(prompts, responses, strict=True):
        doc = set(words(document_of(p)))
        w = words(r)
        out.append(sum(x not in doc for x in w) / len(w) if w else 0.0)
    return out


def verbosity(prompts: Sequence[str], responses: Sequence[str], references=None) -> list[float]:
    """Weak source: word count ("more detail is better"). Near chance on this task."""
    return [float(len(words(r))) for r in responses]
