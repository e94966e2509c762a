"""Noisy summaries: the SFT data of the built-in task's initial policy.

The initial policy is warm-started on a mix of correct summaries and summaries with typical faults (a
missing fact, a distractor detail, a hallucinated entity, a stutter, a missing full stop), so its samples
are plausible but clearly improvable: exactly what online RLHF should fix.
"""

from __future__ import annotations

import random
import re

from rayrlhf.task.oracle import entities_in
from rayrlhf.task.world import ENTITY_KINDS, SUMMARY_TEMPLATES, Facts

_PARTIAL_TEMPLATES = [
    "{company} will {verb} {number} {unit}.",
    "{company} will {verb} {unit} in {city}, {person} said.",
    "{person} said {company} will {verb} {number} {unit}.",
    "{company} will {verb} {number} {unit} in {city}.",
    "{company} plans to {verb} {unit}.",
]


def _swap_entity(rng: random.Random, text: str, facts: Facts, pool: list[tuple[str, str]]) -> str:
    kind = rng.choice(["company", "person", "city", "number"])
    old = getattr(facts, kind)
    candidates = [name for k, name in pool if k == kind and name != old]
    if not candidates or old not in text:
        return text
    return text.replace(old, rng.choice(candidates), 1)


def noisy_summary(rng: random.Random, facts: Facts, document: str) -> str:
    """A summary of ``document``: correct with probability 0.3, else with one or two faults."""
    if rng.random() < 0.3:
        return rng.choice(SUMMARY_TEMPLATES).format(**facts.__dict__)
    text = rng.choice(SUMMARY_TEMPLATES + _PARTIAL_TEMPLATES).format(**facts.__dict__)
    in_doc = sorted(entities_in(document))
    everything = [(k, n) for k, names in ENTITY_KINDS.items() for n in names]
    for _ in range(rng.randint(1, 2)):
        fault = rng.random()
        if fault < 0.3:  # a distractor from the document replaces a key fact
            text = _swap_entity(rng, text, facts, in_doc)
        elif fault < 0.5:  # a hallucinated entity
            text = _swap_entity(rng, text, facts, [e for e in everything if e not in in_doc])
        elif fault < 0.7:  # an extra distractor sentence copied from the document
            sentences = [s for s in re.split(r"(?<=\.) ", document) if facts.company not in s]
            if sentences:
                text = f"{text} {rng.choice(sentences)}"
        elif fault < 0.85:  # a stutter
            w = text.split()
            i = rng.randrange(len(w))
            text = " ".join(w[: i + 1] + [w[i]] + w[i + 1 :])
        else:  # cut short
            w = text.split()
            text = " ".join(w[: max(3, len(w) - rng.randint(2, 5))])
    return text
