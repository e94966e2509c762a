"""The built-in task's gold reward ``r*``: the simulated human.

``r*`` reads only text, like every reward in rayrlhf: the document is taken from the prompt, the key facts
from the reference summary (they are the world's entities that the reference names). For a response:

    r* = 3.0 * coverage            fraction of the 5 key facts stated (company, person, city, number, event)
       - 1.0 * hallucinated        world entities named that are not in the document at all
       - 0.5 * distracted          entities from the document that are not key facts (distractor details)
       - 0.08 * |words - ideal|    length away from the reference's length
       + 0.5 * well_formed         ends with a full stop, no word repeated twice in a row

Labels from it are Bradley-Terry (``P(a1 > a2) = sigmoid((r*(a1) - r*(a2)) / T)``) or deterministic, as the
oracle config says. No source reward computes this function: each sees only part of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from rayrlhf.task.world import ENTITY_KINDS, EVENTS

_WORD = re.compile(r"[A-Za-z0-9']+")


@lru_cache(maxsize=1)
def _entity_patterns() -> list[tuple[str, str, re.Pattern]]:
    pats = []
    for kind, names in ENTITY_KINDS.items():
        for name in names:
            pats.append((kind, name, re.compile(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])")))
    return pats


def entities_in(text: str) -> set[tuple[str, str]]:
    """World entities (kind, name) mentioned in ``text``; a person's surname alone does not count."""
    return {(kind, name) for kind, name, pat in _entity_patterns() if pat.search(text)}


def events_in(text: str) -> set[str]:
    """Event phrases "<verb> <number> <unit>" (any number) mentioned in ``text``."""
    return {f"{v} {u}" for v, u in EVENTS if re.search(rf"\b{v} \d+ {re.escape(u)}\b", text)}


def document_of(prompt: str) -> str:
    """The document inside a built-in task prompt ("Summarize: <doc>\\nSummary:")."""
    body = prompt.split("Summarize:", 1)[-1]
    return body.rsplit("\nSummary:", 1)[0].strip()


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _well_formed(response: str) -> bool:
    w = words(response)
    return response.strip().endswith(".") and all(a != b for a, b in zip(w, w[1:], strict=False))


def gold_score(prompt: str, response: str, reference: str) -> float:
    """``r*`` of one response (see the module docstring)."""
    document = document_of(prompt)
    key = entities_in(reference)
    key_events = events_in(reference)
    said = entities_in(response)
    in_doc = entities_in(document)
    covered = len(said & key) + len(events_in(response) & key_events)
    coverage = covered / max(1, len(key) + len(key_events))
    hallucinated = len(said - in_doc)
    distracted = len((said & in_doc) - key)
    length_gap = abs(len(words(response)) - len(words(reference)))
    return 3.0 * coverage - 1.0 * hallucinated - 0.5 * distracted - 0.08 * length_gap + 0.5 * _well_formed(response)


def gold_reward(prompts: Sequence[str], responses: Sequence[str], references: Sequence[str] | None) -> list[float]:
    """Batched ``r*``: the built-in oracle (``oracle.reward.model: rayrlhf.task.oracle:gold_reward``)."""
    if references is None:
        raise ValueError("the built-in gold oracle needs the reference summaries (data.reference_field)")
    return [gold_score(p, r, ref) for p, r, ref in zip(prompts, responses, references, strict=True)]
