"""The built-in summarisation world: templated news briefs with a known set of key facts.

Each document reports one event (company, action, amount, city, spokesperson) surrounded by distractor
sentences that mention *other* companies, people, places and numbers. The reference summary states the
five key facts in one sentence. Everything is generated from a seed, so the task needs no downloads and
every split is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

COMPANIES = [
    "Norvale", "Brightwater", "Kestrel Labs", "Ardent Foods", "Polaris Rail", "Halcyon Bank", "Vantor",
    "Greystone Mining", "Lumen Telecom", "Orchid Pharma", "Tidewell", "Summit Motors", "Quillon",
    "Redfern Steel", "Aster Air", "Cobalt Systems", "Meridian Textiles", "Falcon Freight", "Juniper Media",
    "Oakhurst Energy", "Pinecrest Retail", "Silverline Water", "Tandem Robotics", "Wexford Glass",
]
PEOPLE = [
    "Ana Torres", "Ben Okafor", "Clara Nilsson", "David Chen", "Elena Rossi", "Farid Haddad", "Grace Kim",
    "Hugo Martin", "Ines Duarte", "Jonas Weber", "Kavya Rao", "Liam Byrne", "Maya Cohen", "Nikolai Petrov",
    "Olivia Grant", "Pablo Ruiz", "Quinn Harper", "Rosa Lindqvist", "Samir Aziz", "Tara Walsh",
]
CITIES = [
    "Lisbon", "Oslo", "Denver", "Osaka", "Nairobi", "Lyon", "Porto", "Austin", "Krakow", "Dublin",
    "Valencia", "Leeds", "Tampere", "Perth", "Quebec", "Seville", "Bergen", "Tucson", "Gdansk", "Malmo",
]
ROLES = ["chief executive", "spokesperson", "finance chief", "operations head", "chair"]
# (verb phrase, unit) pairs: "will <verb> <number> <unit>"
EVENTS = [
    ("hire", "workers"), ("cut", "jobs"), ("open", "stores"), ("close", "branches"), ("build", "homes"),
    ("invest", "million euros"), ("recall", "vehicles"), ("add", "routes"), ("train", "engineers"),
    ("install", "turbines"),
]
NUMBERS = [str(n) for n in (12, 15, 20, 25, 30, 40, 45, 50, 60, 75, 80, 90, 120, 150, 200, 250, 300, 400, 500)]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
FILLER = [
    "Shares in the sector were little changed.",
    "Analysts had expected the move for several months.",
    "The weather in the region has been unusually mild this year.",
    "Local officials did not respond to a request for comment.",
    "The announcement came after a week of heavy trading.",
    "Industry groups say demand has been uneven.",
    "The plan still needs approval from regulators.",
    "Unions said they would study the details.",
]

ENTITY_KINDS = {"company": COMPANIES, "person": PEOPLE, "city": CITIES, "number": NUMBERS}
SUMMARY_TEMPLATES = [
    "{company} will {verb} {number} {unit} in {city}, {person} said.",
    "{person} said {company} will {verb} {number} {unit} in {city}.",
]
PROMPT_TEMPLATE = "Summarize: {document}\nSummary:"


@dataclass(frozen=True)
class Facts:
    """The key facts of one document: what a perfect summary states."""

    company: str
    person: str
    city: str
    number: str
    verb: str
    unit: str


def _distractor(rng: random.Random, facts: Facts) -> str:
    other_company = rng.choice([c for c in COMPANIES if c != facts.company])
    other_person = rng.choice([p for p in PEOPLE if p != facts.person])
    other_city = rng.choice([c for c in CITIES if c != facts.city])
    other_number = rng.choice([n for n in NUMBERS if n != facts.number])
    verb, unit = rng.choice(EVENTS)
    return rng.choice([
        f"Last year {other_company} said it would {verb} {other_number} {unit} in {other_city}.",
        f"{other_person} of {other_company} called the news a surprise.",
        f"Rival {other_company} has {other_number} sites near {other_city}.",
        f"In {other_city}, {other_person} said prices rose by {other_number} percent.",
    ])


def make_example(rng: random.Random) -> dict:
    """One document, its reference summary and its key facts (as plain fields)."""
    verb, unit = rng.choice(EVENTS)
    facts = Facts(
        company=rng.choice(COMPANIES), person=rng.choice(PEOPLE), city=rng.choice(CITIES),
        number=rng.choice(NUMBERS), verb=verb, unit=unit,
    )
    lead = (
        f"{facts.company} said on {rng.choice(DAYS)} that it will {facts.verb} {facts.number} {facts.unit} "
        f"in {facts.city}."
    )
    quote = f"{facts.person}, the company's {rng.choice(ROLES)}, announced the plan."
    extra = [_distractor(rng, facts) for _ in range(rng.randint(1, 3))] + rng.sample(FILLER, rng.randint(1, 2))
    rng.shuffle(extra)
    sentences = [lead, quote, *extra] if rng.random() < 0.7 else [extra[0], lead, quote, *extra[1:]]
    document = " ".join(sentences)
    reference = SUMMARY_TEMPLATES[0].format(**facts.__dict__)
    return {
        "document": document,
        "prompt": PROMPT_TEMPLATE.format(document=document),
        "reference": reference,
        **{f"fact_{k}": v for k, v in facts.__dict__.items()},
    }


def make_split(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    return [make_example(rng) for _ in range(n)]


def facts_of(example: dict) -> Facts:
    return Facts(**{k[5:]: v for k, v in example.items() if k.startswith("fact_")})
