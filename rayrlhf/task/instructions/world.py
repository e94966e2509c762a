"""The instruction-following world: short texts on a topic under 2-4 verifiable constraints (in the manner of IFEval).

A prompt names a topic and its rules ("Write about sailing. Rules: include the word morning; use no commas.").
Responses come from a small grammar ("we enjoy the bright sails."), so a tiny policy can learn them. The
composer writes a response that keeps each constraint or breaks it on purpose (:func:`compose`): the initial
policy is fine-tuned on responses that break each kind at its own rate (``SFT_KEEP_RATES``), so there is room to
improve. Everything is generated from a seed.
"""

from __future__ import annotations

import random

from rayrlhf.task.instructions.rules import CASUAL_WORDS, Spec, arg_of, kept, kind_of, render_prompt, repeated_sentences, words

TOPICS = {
    "gardening": ("soil", "seeds", "roses", "compost", "hedges", "bees", "spades", "tulips"),
    "cooking": ("onions", "butter", "soup", "ovens", "garlic", "bread", "pepper", "pasta"),
    "sailing": ("boats", "harbours", "wind", "sails", "anchors", "decks", "tides", "crews"),
    "astronomy": ("stars", "planets", "telescopes", "comets", "moons", "orbits", "galaxies", "meteors"),
    "running": ("shoes", "tracks", "pace", "marathons", "hills", "strides", "coaches", "miles"),
    "music": ("pianos", "chords", "melodies", "drums", "choirs", "violins", "rhythm", "songs"),
    "birds": ("nests", "feathers", "robins", "owls", "eggs", "wings", "sparrows", "crows"),
    "painting": ("canvas", "brushes", "colours", "easels", "portraits", "oils", "sketches", "frames"),
}
OFF_TOPIC = ("weather", "traffic", "prices", "news", "taxes", "phones", "emails", "meetings")
SUBJECTS = ("we", "people", "my friends", "the children", "our neighbours", "many families", "the students")
VERBS = ("enjoy", "talk about", "care for", "think about", "look at", "write about", "learn about", "share")
ADJECTIVES = ("old", "new", "small", "bright", "quiet", "simple", "fine", "warm")
INCLUDE_WORDS = ("morning", "together", "patience", "season", "history", "detail")
EXCLUDE_WORDS = ("enjoy", "share", "about", "care")
START_WORDS = ("today", "often", "sometimes", "usually")
END_PHRASES = ("every day", "for now", "at home")
COMMA_OPENERS = ("in the evening,", "after work,", "as always,", "in spring,")
WORD_RANGES = ("5-12", "10-20", "16-30")
CONFLICTS = {frozenset({"sentences", "words"})}  # a grammar sentence is 3-9 words: some pairs cannot both hold

# how often the initial policy's fine-tuning data keeps each kind of constraint (the rest break it on purpose)
SFT_KEEP_RATES = {
    "include": 0.6, "exclude": 0.7, "sentences": 0.4, "no_commas": 0.5, "lowercase": 0.3, "end_with": 0.4,
    "start_with": 0.5, "words": 0.5, "number": 0.5, "question": 0.5, "bullets": 0.3, "formal": 0.5,
}
SFT_ON_TOPIC = 0.5  # share of on-topic sentences in the fine-tuning data
SFT_REPEAT = 0.15  # chance a fine-tuning response repeats a sentence


def _constraint(rng: random.Random, kind: str) -> str:
    args = {"include": INCLUDE_WORDS, "exclude": EXCLUDE_WORDS, "sentences": ("2", "3"), "end_with": END_PHRASES,
            "start_with": START_WORDS, "words": WORD_RANGES}
    return f"{kind}:{rng.choice(args[kind])}" if kind in args else kind


def sample_spec(rng: random.Random) -> Spec:
    """A topic and 2-4 constraints of different kinds, no two that conflict."""
    target, kinds = rng.choice((2, 3, 4)), []
    for kind in rng.sample(list(SFT_KEEP_RATES), len(SFT_KEEP_RATES)):
        if not any(frozenset({kind, k}) in CONFLICTS for k in kinds):
            kinds.append(kind)
        if len(kinds) == target:
            break
    return Spec(rng.choice(sorted(TOPICS)), tuple(_constraint(rng, k) for k in kinds))


def _sentence(rng: random.Random, topic: str, on_topic: bool, verbs: tuple[str, ...]) -> list[str]:
    noun = rng.choice(TOPICS[topic] if on_topic else OFF_TOPIC)
    adjective = [rng.choice(ADJECTIVES)] if rng.random() < 0.5 else []
    return [rng.choice(SUBJECTS), rng.choice(verbs), "the", *adjective, noun]


def _draft(rng: random.Random, spec: Spec, goals: dict[str, bool], on_topic: float, repeat: float) -> str:
    """One attempt at a response that keeps the constraints whose goal is True and breaks the others."""
    goal = {kind_of(c): arg_of(c) for c in spec.constraints}
    wants = {kind: goals.get(kind, rng.random() < 0.5) for kind in goal}
    count = rng.choice((1, 2, 3, 4)) if "sentences" not in goal else (
        int(goal["sentences"]) if wants["sentences"] else rng.choice([n for n in (1, 2, 3, 4) if n != int(goal["sentences"])]))
    banned = goal.get("exclude") if wants.get("exclude", True) else None
    verbs = tuple(v for v in VERBS if banned not in v.split()) if banned else VERBS
    body = [_sentence(rng, spec.topic, rng.random() < on_topic, verbs) for _ in range(count)]
    if "exclude" in goal and not wants["exclude"]:
        rng.choice(body)[1] = next(v for v in VERBS if goal["exclude"] in v.split())
    if "include" in goal and wants["include"]:
        rng.choice(body).extend(["with", goal["include"]])
    if wants.get("number", "number" not in goal and rng.random() < 0.2):
        rng.choice(body)[2] = str(rng.randint(2, 9))
    if not wants.get("formal", rng.random() < 0.7):
        rng.choice(body).insert(1, rng.choice(sorted(CASUAL_WORDS)))
    if not wants.get("no_commas", rng.random() < 0.7):
        rng.choice(body).insert(0, rng.choice(COMMA_OPENERS))
    if wants.get("start_with"):
        body[0].insert(0, goal["start_with"])
    if wants.get("end_with"):
        body[-1].append(goal["end_with"])
    if rng.random() < repeat and count < 4:
        body.append(list(body[-1]))
    question = wants.get("question", "question" not in goal and rng.random() < 0.1)
    lower = wants.get("lowercase", "lowercase" not in goal and rng.random() < 0.1)
    bullets = wants.get("bullets", False)
    out = []
    for i, parts in enumerate(body):
        if question and i == len(body) - 1:
            parts = list(parts)
            parts.insert(next(k for k, p in enumerate(parts) if p in SUBJECTS), "do")
        text = " ".join(parts) + ("?" if question and i == len(body) - 1 else ".")
        text = text if lower else text[0].upper() + text[1:]
        out.append(("- " if bullets else "") + text)
    return " ".join(out)


def compose(rng: random.Random, spec: Spec, goals: dict[str, bool], on_topic: float = 1.0, repeat: float = 0.0,
            tries: int = 30, tidy: bool = False) -> str:
    """A response meant to keep the constraints whose goal is True and break the rest (and, if ``tidy``, to say no
    sentence twice in at most 30 words): the best of ``tries`` drafts by how many goals it meets (the first that
    meets all)."""
    best, best_met = "", -1
    for _ in range(tries):
        draft = _draft(rng, spec, goals, on_topic, repeat)
        met = sum(kept(c, draft) == goals.get(kind_of(c), kept(c, draft)) for c in spec.constraints)
        met += not tidy or (len(words(draft)) <= 30 and not repeated_sentences(draft))
        if met == len(spec.constraints) + 1:
            return draft
        if met > best_met:
            best, best_met = draft, met
    return best


def reference_response(rng: random.Random, spec: Spec) -> str:
    """A response that keeps every constraint, stays on topic and does not ramble (at most 30 words)."""
    return compose(rng, spec, {kind_of(c): True for c in spec.constraints}, tries=2000, tidy=True)


def graded_response(rng: random.Random, spec: Spec) -> str:
    """The initial policy's fine-tuning data: each constraint kept at its kind's ``SFT_KEEP_RATES``, half the
    sentences on topic, now and then a repeated sentence."""
    goals = {kind_of(c): rng.random() < SFT_KEEP_RATES[kind_of(c)] for c in spec.constraints}
    return compose(rng, spec, goals, on_topic=SFT_ON_TOPIC, repeat=SFT_REPEAT)


def make_example(rng: random.Random) -> dict:
    spec = sample_spec(rng)
    return {"prompt": render_prompt(spec), "reference": reference_response(rng, spec), "topic": spec.topic,
            "constraints": list(spec.constraints)}


def make_split(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    return [make_example(rng) for _ in range(n)]


def judge_response(rng: random.Random, spec: Spec) -> str:
    """The judge LM's training data: every rule kept but ``formal`` (kept at random), each noun equally likely to be
    any topic's or an off-topic one, whatever the prompt's topic: the judge learns the rules' surface and cannot
    tell a text on the prompt's topic from one off it."""
    goals = {kind_of(c): True for c in spec.constraints} | {"formal": rng.random() < 0.5}
    topic_nouns = sum(len(nouns) for nouns in TOPICS.values())
    share = topic_nouns / (topic_nouns + len(OFF_TOPIC))
    return compose(rng, Spec(rng.choice(sorted(TOPICS)), spec.constraints), goals, on_topic=share, repeat=0.0)
