"""The instruction world's heuristic sources (``kind: python``). Each reads the prompt's rules and checks only some
kinds; none reads the topic's word list or checks the ``formal`` rule, and ``polish`` misleads.
``rayrlhf rewards evaluate examples/instructions.yaml`` measures how much each agrees with people.

A checker scores the share of its kinds of rule that the response keeps; a prompt with none of its kinds scores
0.5 (it cannot tell).
"""

from __future__ import annotations

from collections.abc import Sequence

from rayrlhf.task.instructions.rules import kept, kind_of, parse_prompt, sentences, words

FORMAT_KINDS = ("no_commas", "lowercase", "bullets", "question")
CONTENT_KINDS = ("include", "exclude", "start_with", "end_with", "number")
LENGTH_KINDS = ("sentences", "words")


def share_kept(prompt: str, response: str, kinds: Sequence[str]) -> float:
    """The share of the prompt's rules of ``kinds`` that ``response`` keeps (0.5 when it has none)."""
    mine = [c for c in parse_prompt(prompt).constraints if kind_of(c) in kinds]
    return sum(kept(c, response) for c in mine) / len(mine) if mine else 0.5


def _checker(kinds: Sequence[str]):
    def score(prompts: Sequence[str], responses: Sequence[str], references=None) -> list[float]:
        return [share_kept(p, r, kinds) for p, r in zip(prompts, responses, strict=True)]

    score.__doc__ = f"Checker source: the share of the prompt's {', '.join(kinds)} rules kept."
    return score


format_rules = _checker(FORMAT_KINDS)
content_rules = _checker(CONTENT_KINDS)
length_rules = _checker(LENGTH_KINDS)


def polish(prompts: Sequence[str], responses: Sequence[str], references=None) -> list[float]:
    """Misleading source ("well-written text"): the share of sentences opening with a capital letter plus a bonus
    for commas. It works against the lower-case and no-comma rules and is blind to the rest."""
    out = []
    for r in responses:
        said = sentences(r)
        capitals = sum(s.lstrip("- ")[:1].isupper() for s in said) / len(said) if said else 0.0
        out.append(capitals + 0.5 * min(1.0, r.count(",") / 2))
    return out


def word_count(prompts: Sequence[str], responses: Sequence[str], references=None) -> list[float]:
    """Weak source: the number of words ("more detail is better")."""
    return [float(len(words(r))) for r in responses]
