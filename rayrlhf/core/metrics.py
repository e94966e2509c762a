"""One line of ``RUN_DIR/metrics.jsonl``: an iteration's figures, typed and grouped by what produced them.

On disk the row is flat, ``section/name`` keys (``arm/<source>/count``, ``train/loss``, ``timing/eval_s``, ...) as
TensorBoard and the trackers take them (docs/architecture.md, "The run directory"); :class:`MetricsRow` writes
and reads that form, so no reader takes keys apart by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rayrlhf.core.durable import read_jsonl

SECTIONS = ("annotation", "label_model", "train", "eval", "rollout", "timing")


@dataclass(frozen=True)
class ArmRow:
    """An arm's statistics at the end of the iteration: answered prompts, win rate and UCB value (``None`` for an
    arm not played: no win rate, an infinite UCB)."""

    count: int
    win_rate: float | None
    ucb: float | None


@dataclass
class MetricsRow:
    iteration: int
    oracle_queries: int  # labels in the ledger so far (the run's paid labels)
    arms: dict[str, ArmRow] = field(default_factory=dict)
    annotation: dict[str, float] = field(default_factory=dict)  # the coordinator's counters (asked, reused, ...)
    label_model: dict[str, float] = field(default_factory=dict)  # oracle.route: model labels, calibration, weights
    train: dict[str, float] = field(default_factory=dict)  # the learner's figures (loss, pairs, pairs_trained, ...)
    eval: dict[str, float] = field(default_factory=dict)  # held-out evaluation (win rate vs init with its CI, ...)
    rollout: dict[str, float] = field(default_factory=dict)  # engine calls and generated tokens of the iteration
    timing: dict[str, float] = field(default_factory=dict)  # seconds per stage
    other: dict = field(default_factory=dict)  # keys of no section (rows written by other versions keep them)

    def to_json(self) -> dict:
        row: dict = {"iteration": self.iteration, "oracle_queries": self.oracle_queries}
        for name, arm in self.arms.items():
            row |= {f"arm/{name}/count": arm.count, f"arm/{name}/win_rate": arm.win_rate, f"arm/{name}/ucb": arm.ucb}
        for section in SECTIONS:
            row |= {f"{section}/{k}": v for k, v in getattr(self, section).items()}
        return row | self.other

    @classmethod
    def from_json(cls, row: dict) -> MetricsRow:
        out = cls(int(row.get("iteration", 0)), int(row.get("oracle_queries", 0)))
        arms: dict[str, dict] = {}
        for key, value in row.items():
            section, _, rest = key.partition("/")
            if key in ("iteration", "oracle_queries"):
                continue
            if section == "arm" and "/" in rest:
                name, _, stat = rest.rpartition("/")
                arms.setdefault(name, {})[stat] = value
            elif section in SECTIONS and rest:
                getattr(out, section)[rest] = value
            else:
                out.other[key] = value
        out.arms = {name: ArmRow(int(s.get("count", 0)), s.get("win_rate"), s.get("ucb")) for name, s in arms.items()}
        return out


def read_metrics(run_dir) -> list[MetricsRow]:
    """The rows of ``RUN_DIR/metrics.jsonl`` (a torn last line ignored; [] if there is none)."""
    return [MetricsRow.from_json(row) for row in read_jsonl(Path(run_dir) / "metrics.jsonl")]
