"""The instruction world's gold reward ``r*``: the simulated human.

``r*`` reads the prompt and the response only (never the reference answer). For a response to a prompt with
constraints ``C``:

    r* = 2.5 * sum(w[c] * kept(c) for c in C) / sum(w[c] for c in C)    a hidden weighting of the rules
       + 1.5 * on_topic                share of sentences naming something of the topic (a hidden word list)
       - 0.75 * repeated               sentences said twice
       - 0.1 * max(0, words - 30)      rambling

``w`` (``RUBRIC_WEIGHTS``) is known to no source, the topic's word list (``TOPICS``) is read by no source, and no
source checks the ``formal`` rule: those parts of what people want are seen by nobody but people. Labels from
``r*`` are Bradley-Terry or deterministic, as the oracle config says.
"""

from __future__ import annotations

from collections.abc import Sequence

from rayrlhf.task.instructions.rules import kept, kind_of, parse_prompt, repeated_sentences, sentences, words
from rayrlhf.task.instructions.world import TOPICS

RUBRIC_WEIGHTS = {
    "include": 1.0, "exclude": 1.0, "sentences": 0.8, "no_commas": 0.6, "lowercase": 0.6, "end_with": 0.8,
    "start_with": 0.6, "words": 0.8, "number": 0.5, "question": 0.7, "bullets": 0.7, "formal": 1.0,
}
HIDDEN_KINDS = ("formal",)  # rules no source checks


def rubric(prompt: str, response: str) -> float:
    """The weighted share of the prompt's rules the response keeps (0-1)."""
    spec = parse_prompt(prompt)
    weights = [RUBRIC_WEIGHTS[kind_of(c)] for c in spec.constraints]
    return sum(w * kept(c, response) for w, c in zip(weights, spec.constraints, strict=True)) / sum(weights)


def on_topic(prompt: str, response: str) -> float:
    """The share of the response's sentences that name a word of the prompt's topic."""
    lexicon = set(TOPICS[parse_prompt(prompt).topic])
    said = sentences(response)
    return sum(bool(lexicon & set(words(s))) for s in said) / len(said) if said else 0.0


def gold_score(prompt: str, response: str) -> float:
    """``r*`` of one response (see the module docstring)."""
    rambling = max(0, len(words(response)) - 30)
    return 2.5 * rubric(prompt, response) + 1.5 * on_topic(prompt, response) - 0.75 * repeated_sentences(response) - 0.1 * rambling


def gold_reward(prompts: Sequence[str], responses: Sequence[str], references: Sequence[str] | None = None) -> list[float]:
    """Batched ``r*``: the instruction world's oracle (``oracle.reward.model:
    rayrlhf.task.instructions.oracle:gold_reward``); references are not read."""
    return [gold_score(p, r) for p, r in zip(prompts, responses, strict=True)]
