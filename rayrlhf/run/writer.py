"""What an iteration leaves in the run directory (docs/architecture.md, "The run directory"): its pairs for
``optim.replay``, its metrics row from typed parts, the label model's detail, and the checkpoint's resume point."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from rayrlhf.core.metrics import MetricsRow
from rayrlhf.core.records import PreferencePair
from rayrlhf.core.run_dir import ResumeState, RunDir
from rayrlhf.run.pairs import replayed_iterations

TRAIN_FIGURES = ("loss", "reward_margin", "reward_accuracy", "logratio", "chosen_nll", "steps", "lr", "tokens_per_s")


@dataclass
class IterationParts:
    """An iteration's figures, by what produced them: the coordinator (arms, budget, annotation counters), the
    rounds' counters, the learner, the held-out evaluation, the stages' seconds, and the label model (with its
    reliability table and weights for ``RUN_DIR/label_model/iter_N.json``)."""

    iteration: int
    coordinator: dict
    counts: dict
    train: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    label_model: tuple[dict, dict] | None = None

    def row(self) -> MetricsRow:
        metrics = MetricsRow.from_json({"iteration": self.iteration, **self.coordinator, **self.counts, **self.evaluation})
        metrics.train |= self.train
        metrics.timing |= self.timing
        if self.label_model is not None:
            metrics.label_model = self.label_model[0]
        return metrics


def train_figures(summary: dict, pairs: int, replayed: int, trained: int) -> dict:
    """The learner's figures for the row: pairs of the iteration, replayed and trained on, and its step summary."""
    return {"pairs": pairs, "replayed_pairs": replayed, "pairs_trained": trained,
            **{k: v for k, v in summary.items() if k in TRAIN_FIGURES}}


class RunWriter:
    def __init__(self, run: RunDir, replay: str | int, keep_checkpoints: int) -> None:
        self.run, self.replay, self.keep = run, replay, keep_checkpoints

    def replayed_pairs(self, iteration: int, pairs: list[PreferencePair]) -> list[PreferencePair]:
        """``optim.replay``: this iteration's pairs are saved (``RUN_DIR/pairs/iter_N.json``) and earlier iterations'
        read back to train again (all of them, or the last N)."""
        folder = self.run.root / "pairs"
        folder.mkdir(exist_ok=True)
        self.run.write_json_atomic(folder / f"iter_{iteration}.json", [p.to_json() for p in pairs])
        return [PreferencePair.from_json(row) for i in replayed_iterations(self.replay, iteration)
                if (folder / f"iter_{i}.json").is_file() for row in json.loads((folder / f"iter_{i}.json").read_text())]

    def commit(self, parts: IterationParts, state: ResumeState) -> dict:
        """Write the iteration's row, then its resume point (``state`` with the checkpoint); returns the row. The row
        goes before the resume pointer: a crash between the two re-runs this iteration (resume_point drops the row),
        so ``metrics.jsonl`` always holds exactly iterations 1..latest after a resume."""
        iteration = parts.iteration
        if parts.label_model is not None:
            (self.run.root / "label_model").mkdir(exist_ok=True)
            self.run.write_json_atomic(self.run.root / "label_model" / f"iter_{iteration}.json",
                                       {"iteration": iteration, **parts.label_model[1]})
        row = parts.row().to_json()
        self.run.append_metrics(row)
        state.iteration = iteration
        self.run.set_status("checkpoint", iteration)
        return row

    def mark_complete(self, iteration: int, state: ResumeState) -> None:
        self.run.mark_complete(iteration, state, keep=self.keep)
        self.run.set_status("done", iteration)
