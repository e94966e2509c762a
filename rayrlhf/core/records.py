"""The typed records that move between the stages of a run (docs/architecture.md, "One iteration").

A prompt becomes a :class:`RoundItem` once its K responses exist (with Best-of-N picks in the first Rp slots
on a source arm); the oracle's answer to the item's :class:`~rayrlhf.core.records.Query` ranks them; the
item's chosen and rejected responses become a :class:`PreferencePair` for the learner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
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

    @classmethod
    def from_json(cls, row: dict) -> RoundItem:
        return cls(row["prompt"], row.get("reference"), row["arm"], tuple(row["responses"]), tuple(row["transfer_mask"]),
                   row.get("explore", ""), row.get("conversation"))


@dataclass(frozen=True)
class PreferencePair:
    """A training pair (PAPER.md step 5); ``explore`` is XPO's sample from the online policy."""

    prompt: str
    chosen: str
    rejected: str
    explore: str = ""

    def to_json(self) -> dict:
        return asdict(self)


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
    """``ranking`` is best-first; ``None`` when the annotator abstained."""

    query_id: str
    ranking: list[int] | None
    scores: list[float] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def best(self) -> int | None:
        return None if self.ranking is None else self.ranking[0]

    @property
    def worst(self) -> int | None:
        return None if self.ranking is None else self.ranking[-1]


Record = Callable[["Query", "Answer"], None]
