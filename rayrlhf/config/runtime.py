"""Sections for where and how a run executes: seeds and output, the Ray cluster, fault tolerance, trackers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rayrlhf.config import checks
from rayrlhf.config.scopes import RESUMABLE, SHARED


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)  # .inf/.nan: "finite number"


class TimeoutConfig(_Section):
    """Seconds one call of a stage may take before the run stops with an error that names the stage and the actor
    (``rayrlhf train --resume`` then continues). Generous: they catch hangs, not slowness."""

    startup: float = Field(1800.0, gt=0.0, description="seconds for the actors, engines and learner workers to start")
    generate: float = Field(1800.0, gt=0.0, description="seconds for one generation call of the rollout engines")
    score: float = Field(1800.0, gt=0.0, description="seconds for one scoring call of a source's or the simulated oracle's model")
    annotate: float | None = Field(
        None, gt=0.0, description="seconds for one round's annotation (null: no limit; the simulated oracle's calls are "
        "bounded by `score`, people by oracle.max_wait)")
    train: float = Field(7200.0, gt=0.0, description="seconds for one iteration's training, checkpoint included")
    weight_sync: float = Field(600.0, gt=0.0, description="seconds for the rollout engines to load new weights")
    eval: float = Field(1800.0, gt=0.0, description="seconds for the held-out generation and scoring")


class RunConfig(_Section):
    """Where a run writes, which Ray cluster it runs on, how its actors are placed and how it survives failures."""

    seed: int = Field(
        0, description="seeds the prompt order, sampling, arm assignment, labels and the learner's shuffling "
        "(`0 <= seed < 2**32`, NumPy's range); `rayrlhf compare --seeds N` uses seed, seed+1, ...")
    output_dir: str = Field("runs/default", description="the run directory RUN_DIR: config.yaml, metrics.jsonl, "
                            "annotations.jsonl, checkpoints/, report.md")
    ray_address: Annotated[str | None, SHARED] = Field(
        None, description="an existing Ray cluster to join (`auto`, `ray://host:10001`); null: $RAY_ADDRESS, else a "
        "local Ray started for the run")
    placement: Annotated[Literal["pack", "strict_pack", "spread"], SHARED] = Field(
        "pack", description="placement-group strategy for the rollout and reward actors: as few nodes as possible "
        "(`pack`), all on one node (`strict_pack`: a compare's parallel runs each on a node of its own) or one per "
        "node where possible (`spread`)")
    placement_timeout_s: Annotated[float, SHARED] = Field(
        120.0, gt=0.0, description="seconds to wait for the cluster to fit the run's actors; then the run fails, "
        "naming the missing resources")
    max_restarts: Annotated[int, SHARED, RESUMABLE] = Field(
        3, ge=0, description="times Ray restarts a dead rollout or reward actor (retrying its call) before the run stops")
    timeouts: Annotated[TimeoutConfig, SHARED, RESUMABLE] = Field(default_factory=TimeoutConfig, description="per-stage time limits")
    rewards_from: Annotated[str | None, SHARED] = Field(
        None, description="the URL of a `rayrlhf rewards serve` (e.g. `http://127.0.0.1:8700`): every source and the "
        "simulated oracle's reward are scored there, none loaded by the run (docs/rewards_service.md)")
    rewards_token_env: Annotated[str | None, SHARED] = Field(
        "RAYRLHF_REWARDS_TOKEN", description="rewards_from: the environment variable holding the server's token")
    rewards_allow_http: Annotated[bool, SHARED] = Field(False, description="rewards_from: allow plain http:// to another machine")
    keep_checkpoints: Annotated[int | None, RESUMABLE] = Field(
        2, ge=1, description="complete checkpoints kept in RUN_DIR/checkpoints (the newest; null keeps all)")

    _seed = field_validator("seed")(lambda v: checks.check_seed(v))

    @model_validator(mode="after")
    def _rewards_url(self) -> RunConfig:
        if self.rewards_from is not None:
            try:
                checks.check_endpoint_url(self.rewards_from, self.rewards_allow_http)
            except ValueError as exc:
                raise ValueError(f"run.rewards_from {str(exc).replace('endpoint.allow_http', 'run.rewards_allow_http')}") from None
        return self


class TrackingConfig(_Section):
    """Experiment trackers, all off by default. Sweeps log through Ray Tune's logger callbacks
    (``MLflowLoggerCallback``, ``WandbLoggerCallback``); ``train``/``compare`` runs through the same libraries."""

    mlflow: bool = Field(False, description="log parameters and per-iteration metrics to MLflow")
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking server or store (null: the file store RUN_DIR/mlruns, no server needed)")
    wandb: bool = Field(False, description="log parameters and per-iteration metrics to Weights & Biases")
    wandb_project: str = Field("rayrlhf", description="W&B project")
    wandb_mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="W&B mode (null: $WANDB_MODE, else W&B's default)")
    experiment: str | None = Field(
        None, description="MLflow experiment and W&B group (null: the name of the output directory)")
