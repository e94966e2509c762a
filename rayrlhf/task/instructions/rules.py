"""The instruction world's constraints: how a prompt states them, how they are read back from the prompt's text,
and whether a response keeps each one.

A constraint is written ``TYPE`` or ``TYPE:ARG`` (``include:morning``, ``sentences:2``, ``words:10-18``). Every
check reads only the response's text; the prompt is parsed back into its topic and constraints
(:func:`parse_prompt`), so a checker needs no hidden data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

PROMPT_TEMPLATE = "Write about {topic}. Rules: {rules}.\nAnswer:"
_PROMPT = re.compile(r"Write about (?P<topic>[a-z ]+)\. Rules: (?P<rules>.*)\.\s*\nAnswer:\s*$", re.S)
_WORD = re.compile(r"[A-Za-z0-9']+")
_SENTENCE_END = re.compile(r"[.?!](?:\s+|$)")
CASUAL_WORDS = frozenset({"really", "stuff", "pretty", "totally", "kinda"})


@dataclass(frozen=True)
class Spec:
    """What a prompt asks for: a topic and 2-4 constraints (``TYPE`` or ``TYPE:ARG``)."""

    topic: str
    constraints: tuple[str, ...]


def words(text: str) -> list[str]:
    """The response's words, lower-cased (list markers and punctuation dropped)."""
    return _WORD.findall(text.lower())


def sentences(text: str) -> list[str]:
    """The response's sentences: text up to each ``.``, ``?`` or ``!`` (a trailing fragment counts as one)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def _first_word(text: str) -> str:
    found = words(text.lstrip("- ").strip())
    return found[0] if found else ""


def _ends_with(text: str, phrase: str) -> bool:
    return " ".join(words(text)[-len(phrase.split()):]) == phrase


def _words_between(text: str, arg: str) -> bool:
    low, high = (int(x) for x in arg.split("-"))
    return low <= len(words(text)) <= high


def _is_list(text: str) -> bool:
    items = [p for p in re.split(r"(?<=[.?!])\s+", text.strip()) if p]
    return bool(items) and all(item.startswith("- ") for item in items)


CHECKS: dict[str, Callable[[str, str], bool]] = {
    "include": lambda text, arg: arg in words(text),
    "exclude": lambda text, arg: arg not in words(text),
    "sentences": lambda text, arg: len(sentences(text)) == int(arg),
    "no_commas": lambda text, arg: "," not in text,
    "lowercase": lambda text, arg: text == text.lower() and any(c.isalpha() for c in text),
    "end_with": _ends_with,
    "start_with": lambda text, arg: _first_word(text) == arg.lower(),
    "words": _words_between,
    "number": lambda text, arg: any(w.isdigit() for w in words(text)),
    "question": lambda text, arg: text.strip().endswith("?"),
    "bullets": lambda text, arg: _is_list(text),
    "formal": lambda text, arg: not CASUAL_WORDS & set(words(text)) and "'" not in text,
}
TYPES = tuple(CHECKS)

RULE_TEXT = {
    "include": "include the word {arg}",
    "exclude": "do not use the word {arg}",
    "sentences": "use exactly {arg} sentences",
    "no_commas": "use no commas",
    "lowercase": "write in lower case only",
    "end_with": "end with the words {arg}",
    "start_with": "start with the word {arg}",
    "words": "use between {low} and {high} words",
    "number": "mention a number",
    "question": "end with a question",
    "bullets": "write each sentence as a list item",
    "formal": "keep a formal tone",
}
_RULE_PATTERNS = [
    (kind, re.compile("^" + re.escape(text).replace(r"\{arg\}", "(?P<arg>[A-Za-z0-9 ]+)")
                      .replace(r"\{low\}", "(?P<low>[0-9]+)").replace(r"\{high\}", "(?P<high>[0-9]+)") + "$"))
    for kind, text in RULE_TEXT.items()
]


def kind_of(constraint: str) -> str:
    return constraint.split(":", 1)[0]


def arg_of(constraint: str) -> str:
    return constraint.split(":", 1)[1] if ":" in constraint else ""


def rule_text(constraint: str) -> str:
    """How a prompt states one constraint."""
    kind, arg = kind_of(constraint), arg_of(constraint)
    if kind == "words":
        low, high = arg.split("-")
        return RULE_TEXT[kind].format(low=low, high=high)
    return RULE_TEXT[kind].format(arg=arg)


def render_prompt(spec: Spec) -> str:
    return PROMPT_TEMPLATE.format(topic=spec.topic, rules="; ".join(rule_text(c) for c in spec.constraints))


def _parse_rule(text: str) -> str:
    for kind, pattern in _RULE_PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        found = match.groupdict()
        if "low" in found:
            return f"{kind}:{found['low']}-{found['high']}"
        return f"{kind}:{found['arg']}" if "arg" in found else kind
    raise ValueError(f"not an instruction-world rule: {text!r}")


def parse_prompt(prompt: str) -> Spec:
    """The topic and constraints an instruction-world prompt states (the inverse of :func:`render_prompt`)."""
    match = _PROMPT.search(prompt)
    if match is None:
        raise ValueError(f"not an instruction-world prompt (expected 'Write about ... Rules: ...'): {prompt[:80]!r}")
    return Spec(match["topic"], tuple(_parse_rule(r.strip()) for r in match["rules"].split(";")))


def repeated_sentences(text: str) -> int:
    """How many of the text's sentences repeat an earlier one (compared by their words)."""
    said = [" ".join(words(s)) for s in sentences(text)]
    return len(said) - len(set(said))


def kept(constraint: str, response: str) -> bool:
    """Whether ``response`` keeps ``constraint``."""
    return CHECKS[kind_of(constraint)](response, arg_of(constraint))
