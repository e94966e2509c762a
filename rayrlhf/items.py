"""The typed data that moves between the pipeline's stages (PAPER.md steps 1-5).

A prompt becomes a :class:`RoundItem` once its K responses exist (with Best-of-N picks in the first Rp slots
on a source arm); the oracle's answer to the item's :class:`~rayrlhf.annotation.Query` ranks them; the
item's chosen and rejected responses become a :class:`PreferencePair` for the learner.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RoundItem:
    """One prompt of a round: its arm, its K responses and which of them are transfer slots.

    ``explore`` is a plain sample from the online policy for the same prompt (XPO's ``a~``); ``conversation`` the
    prompt's chat conversation as JSON, for chat data (``rayrlhf.chat``)."""

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
