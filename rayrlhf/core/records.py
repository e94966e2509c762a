"""The typed records that move between the stages of a run (docs/architecture.md, "One iteration").

A prompt becomes a :class:`RoundItem` once its K responses exist (with Best-of-N picks in the first Rp slots
on a source arm); the oracle's answer to the item's :class:`~rayrlhf.core.records.Query` ranks them; the
item's chosen and rejected responses become a :class:`PreferencePair` for the learner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class RoundItem:
    """One prompt of a round: its arm, its K responses and which of them are transfer slots.

    ``explore`` is a plain sample from the online policy for the same prompt (XPO's ``a~``); ``conversation`` the
    prompt's chat conversation as JSON, for chat data (``rayrlhf.data.chat``)."""

    prompt: str
    reference: str | None
    arm: str
    responses: tuple[str, ...]
    transfer_mask: tuple[bool, ...]
    explore: str
    conversation: str | None = None

    def __post_init__(self) -> None:
        if len(self.responses) != len(self.transfer_mask):
            raise ValueError(f"{len(self.responses)} responses but {len(self.transfer_mask)} transfer-mask entries")

    def to_json(self) -> dict:
        return asdict(self)

    def query(self) -> Query:
        """The oracle query of this item (its id names it in the ledger and in ``model_labels.jsonl``)."""
        return Query(self.prompt, self.responses, self.reference, self.conversation)

    @classmethod
    def from_json(cls, row: dict) -> RoundItem:
        return cls(row["prompt"], row.get("reference"), row["arm"], tuple(row["responses"]), tuple(row["transfer_mask"]),
                   row.get("explore", ""), row.get("conversation"))


@dataclass(frozen=True)
class PreferencePair:
    """A training pair (docs/method.md step 5); ``explore`` is XPO's sample from the online policy. ``weight``
    scales the pair's loss: 0 for the copies that even out the learner workers' shards (never a paid pair).
    ``more_rejected`` (``transfer.pairs: listwise``) holds the other responses ranked below ``chosen``: the pair is
    then one Plackett-Luce factor, ``chosen`` over ``rejected`` and all of them."""

    prompt: str
    chosen: str
    rejected: str
    explore: str = ""
    weight: float = 1.0
    more_rejected: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return asdict(self) | {"more_rejected": list(self.more_rejected)}

    @classmethod
    def from_json(cls, row: dict) -> PreferencePair:
        """From :meth:`to_json`'s dict, a JSON file's row or a Ray Data row (whose lists arrive as arrays)."""
        more = row.get("more_rejected")
        return cls(row["prompt"], row["chosen"], row["rejected"], row.get("explore", ""), float(row.get("weight", 1.0)),
                   () if more is None else tuple(str(text) for text in more))


@dataclass(frozen=True)
class Query:
    prompt: str
    responses: tuple[str, ...]
    reference: str | None = None
    conversation: str | None = field(default=None, compare=False)  # chat data: the conversation as JSON (not in the id)

    @property
    def id(self) -> str:
        return hashlib.sha256(json.dumps([self.prompt, list(self.responses)]).encode()).hexdigest()[:20]


@dataclass
class Answer:
    """An answer to a :class:`Query`. ``ranking`` is best-first; ``None`` when the annotator abstained. ``partial``: a
    best/worst answer, which states only best over each other and each other over worst. ``labeller``: ``oracle``
    (the run's backend: people, a judge, the simulated oracle; paid) or ``model`` (the label model; never paid), with
    its ``confidence``; ``pairs``: the (chosen, rejected) pairs a model label states when it states only some of its
    ranking's (None: all it implies). ``train_weight`` scales the answer's pairs in the loss. ``meta``: who answered and how
    (annotator, seconds, votes, a judge's usage), for reports."""

    query_id: str
    ranking: list[int] | None
    scores: list[float] | None = None
    meta: dict = field(default_factory=dict)
    partial: bool = False
    labeller: str = "oracle"
    confidence: float | None = None
    train_weight: float = 1.0
    pairs: list[tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        """A ``partial`` given in ``meta`` (rows and backends that keep it there) becomes the typed field."""
        if "partial" in self.meta:
            self.meta = dict(self.meta)
            self.partial = self.partial or bool(self.meta.pop("partial"))

    @classmethod
    def from_json(cls, row: dict) -> Answer:
        """An answer from a ledger row."""
        return cls(row["query_id"], row["ranking"], row.get("scores"), dict(row.get("meta") or {}),
                   bool(row.get("partial", False)), row.get("labeller", "oracle"), row.get("confidence"),
                   float(row.get("train_weight", 1.0)))

    @property
    def best(self) -> int | None:
        return None if self.ranking is None else self.ranking[0]

    @property
    def worst(self) -> int | None:
        return None if self.ranking is None else self.ranking[-1]


Record = Callable[["Query", "Answer"], None]


@dataclass(frozen=True)
class ScoringBatch:
    """Responses grouped by prompt, flattened for a scorer (a reward actor's ``score`` takes flat columns).

    Each prompt (with its reference and conversation, if any) is repeated once per response of its group; the
    flat scores come back in the same order and :meth:`split` regroups them. The one place the "repeat each prompt
    per response and flatten" idiom is written."""

    prompts: tuple[str, ...]
    responses: tuple[str, ...]
    references: tuple[str, ...] | None
    conversations: tuple[str, ...] | None
    sizes: tuple[int, ...]  # responses per prompt, in order

    @classmethod
    def of(cls, prompts: Sequence[str], groups: Sequence[Sequence[str]], references: Sequence[str | None] | None = None,
           conversations: Sequence[str | None] | None = None) -> ScoringBatch:
        """``groups[i]`` are prompt ``i``'s responses; references / conversations are per prompt. A column with a
        ``None`` in it is left out whole (the data loader fills a column for every row or none)."""
        if len(groups) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(groups)} response groups")

        def repeat(column):
            if column is None or any(v is None for v in column):
                return None
            return tuple(v for v, g in zip(column, groups, strict=True) for _ in g)

        return cls(tuple(p for p, g in zip(prompts, groups, strict=True) for _ in g), tuple(r for g in groups for r in g),
                   repeat(references), repeat(conversations), tuple(len(g) for g in groups))

    @classmethod
    def of_items(cls, items: Sequence[RoundItem]) -> ScoringBatch:
        """The K responses of each round item, with its prompt, reference and conversation."""
        return cls.of([it.prompt for it in items], [it.responses for it in items], [it.reference for it in items],
                      [it.conversation for it in items])

    def columns(self) -> tuple[list[str], list[str], list[str] | None, list[str] | None]:
        """``(prompts, responses, references, conversations)`` as a reward actor's ``score`` takes them."""
        def listed(column):
            return None if column is None else list(column)

        return list(self.prompts), list(self.responses), listed(self.references), listed(self.conversations)

    def split(self, flat: Sequence[float]) -> list[list[float]]:
        """Flat scores (one per response, in order) regrouped per prompt."""
        if len(flat) != len(self.responses):
            raise ValueError(f"{len(flat)} scores for {len(self.responses)} responses")
        out, i = [], 0
        for n in self.sizes:
            out.append(list(flat[i : i + n]))
            i += n
        return out
