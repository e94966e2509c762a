"""Sections for where and how a run executes: seeds and output, the Ray cluster, fault tolerance, trackers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rayrlhf.config import checks


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)  # .inf/.nan: "finite number"


class TimeoutConfig(_Section):
    """Seconds one call of a stage may take before the run stops with an error that names the stage and the actor
    (``rayrlhf train --resume`` then continues). Generous: they catch hangs, not slowness."""

    startup: float = Field(1800.0, gt=0.0, description="actors, engines and learner workers starting")
    generate: float = Field(1800.0, gt=0.0, description="one generation call of the rollout engines")
    score: float = Field(1800.0, gt=0.0, description="one scoring call of a source's or the simulated oracle's model")
    annotate: float | None = Field(
        None, gt=0.0, description="one round's annotation (null: no limit; the simulated oracle's calls are bounded by "
        "`score`, people by oracle.max_wait)")
    train: float = Field(7200.0, gt=0.0, description="one iteration's training, checkpoint included")
    weight_sync: float = Field(600.0, gt=0.0, description="the rollout engines loading new weights")
    eval: float = Field(1800.0, gt=0.0, description="held-out generation and scoring")


class RunConfig(_Section):
    seed: int = 0
    output_dir: str = "runs/default"
    ray_address: str | None = None  # an existing cluster ("auto", "ray://..."); default: $RAY_ADDRESS or a local Ray
    placement: Literal["pack", "spread"] = "pack"  # how the rollout and reward actors are spread over nodes
    placement_timeout_s: float = Field(120.0, gt=0.0)  # then fail, naming the missing resources
    max_restarts: int = Field(
        3, ge=0, description="times Ray restarts a dead rollout or reward actor (retrying its call) before the run stops")
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    keep_checkpoints: int | None = Field(
        2, ge=1, description="complete checkpoints kept in RUN_DIR/checkpoints (the newest; null keeps all)")

    _seed = field_validator("seed")(lambda v: checks.check_seed(v))



class TrackingConfig(_Section):
    """Experiment trackers, all off by default. Sweeps log through Ray Tune's logger callbacks
    (``MLflowLoggerCallback``, ``WandbLoggerCallback``); ``train``/``compare`` runs through the same libraries."""

    mlflow: bool = False
    mlflow_tracking_uri: str | None = None  # default: file:<output dir>/mlruns (no server needed)
    wandb: bool = False
    wandb_project: str = "rayrlhf"
    wandb_mode: Literal["online", "offline", "disabled"] | None = None  # None: $WANDB_MODE or W&B's default
    experiment: str | None = None  # MLflow experiment / W&B group; default: the output directory's name
