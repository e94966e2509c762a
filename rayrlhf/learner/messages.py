"""The messages between the driver's :class:`~rayrlhf.learner.ray_learner.Learner` and its Ray Train workers.

The driver puts a job on each worker's queue; the workers answer on one shared results queue. Each kind is its
own type, so neither side tells them apart by dict keys (docs/architecture.md, "The Ray processes of a run")."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrainJob:
    """Train one iteration on this worker's shard of the pairs (a Ray Data shard), starting from ``start_dir``, with
    the run's ``optim`` section (a dict of :class:`~rayrlhf.config.OptimConfig`): a compare's runs share the workers
    but not their recipe."""

    shard: object  # ray.data.DataIterator over PreferencePair rows
    out_dir: str
    seed: int
    start_dir: str
    optim: dict


@dataclass(frozen=True)
class ResetJob:
    """Start a run on the same workers (``rayrlhf compare``): weights from ``model_dir``, the initial policy from
    ``init_dir`` (None: ``model_dir``, a new run), the AdamW state from ``optimizer_state`` (None: a fresh optimizer;
    a resumed run passes its checkpoint's)."""

    model_dir: str
    init_dir: str | None = None
    optimizer_state: str | None = None


@dataclass(frozen=True)
class Ready:
    """A worker loaded its models (sent once per worker at start)."""

    rank: int


@dataclass(frozen=True)
class ResetDone:
    model_dir: str


@dataclass
class TrainResult:
    """Rank 0's report of an iteration, after the checkpoint is written: the diagnostics averaged over workers
    (``means``: loss, reward_margin, reward_accuracy, logratio, lr, tokens_per_s, ...), the optimizer steps with
    their per-step metrics, the pairs trained on and the seconds it took."""

    means: dict[str, float]
    steps: int
    pairs: int
    seconds: float
    per_step: list[dict] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """The iteration's figures (``train/*`` in metrics.jsonl), without the per-step series."""
        return {**self.means, "steps": self.steps, "pairs": self.pairs, "seconds": self.seconds}
