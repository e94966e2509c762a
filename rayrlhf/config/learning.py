"""Sections for the learning loop: the oracle, transfer (empirical TPO), the optimizer, training and evaluation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rayrlhf.config.models import SourceConfig
from rayrlhf.config.runtime import _Section


def _default_oracle_reward() -> SourceConfig:
    # empty summaries rank below any real one (r* of a non-empty summary is rarely under -5)
    return SourceConfig(name="gold", kind="python", model="rayrlhf.task.oracle:gold_reward", empty_score=-5.0)


class WebAnnotationConfig(_Section):
    """The annotation web app (``oracle.backend: web``); docs/annotate.md."""

    serve: bool = Field(True, description="run the web app inside `rayrlhf train` (false: run `rayrlhf annotate serve RUN_DIR`)")
    host: str = Field("127.0.0.1", description="address to bind; loopback by default (use a reverse proxy or tunnel to share)")
    port: int = Field(8765, ge=0, le=65535, description="port to bind (0: any free port, printed at start)")
    undo_window: float = Field(10.0, ge=0.0, description="seconds an annotator can undo an answer; the run records it after that")
    poll: float = Field(0.2, gt=0.0, le=10.0, description="seconds between the run's looks at the queue")


class OracleConfig(_Section):
    """The expensive annotator: simulated by a reward model (the built-in gold oracle by default), or people."""

    reward: SourceConfig = Field(default_factory=_default_oracle_reward)
    labels: Literal["deterministic", "bradley_terry"] = "deterministic"
    temperature: float = Field(1.0, gt=0.0)  # Bradley-Terry / Plackett-Luce temperature
    abstain_margin: float = Field(0.0, ge=0.0)  # abstain when best and worst differ by <= this
    budget: int | None = Field(None, ge=1)  # max oracle queries per run
    backend: Literal["simulated", "web", "vendor", "python"] = Field(
        "simulated", description="who answers: `simulated` (oracle.reward), `web` (people in the annotation app), "
        "`vendor` (export/import batches; the run stops with exit code 75 until the labels are imported) or `python` "
        "(a class of your own, oracle.backend_class)")
    backend_class: str | None = Field(
        None, description="`module:Class` of a python backend: `Class(cfg, run_dir, score)` with "
        "`ask(queries, record)` (rayrlhf.annotation.AnnotationBackend); `score` is the oracle reward")
    timeout: float = Field(600.0, gt=0.0, description="seconds one annotator may hold a query before `on_timeout` applies")
    on_timeout: Literal["requeue", "abstain"] = Field(
        "requeue", description="a timed-out query goes back to the queue (`requeue`) or closes with the answers it has, "
        "none meaning abstained (`abstain`)")
    overlap: int = Field(1, ge=1, le=10, description="answers wanted per query (combined by Borda count; agreement reported)")
    max_wait: float = Field(3600.0, gt=0.0, description="seconds the run waits without any new answer before it stops "
                            "with exit code 75 (waiting for labels); `rayrlhf train --resume` continues")
    labels_per_iteration: int | None = Field(
        None, ge=1, description="labels bought per iteration when fewer than train.prompts_per_iteration (null: every "
        "prompt); the rest of the prompts get no label")
    query_selection: Literal["random", "disagreement"] = Field(
        "random", description="which prompts get the labels_per_iteration labels: a random sample, or those whose K "
        "responses the sources rank most differently (every source then scores every response)")
    cost_per_label: float = Field(0.0, ge=0.0, description="price of one person's answer (skips included), for the cost report")
    web: WebAnnotationConfig = Field(default_factory=WebAnnotationConfig)

    @model_validator(mode="after")
    def _backend_class(self) -> OracleConfig:
        if (self.backend == "python") != bool(self.backend_class):
            raise ValueError("oracle.backend=python needs oracle.backend_class ('module:Class'), and only it takes one")
        return self


class TransferConfig(_Section):
    mode: str = "ucb"  # "ucb", "none", or "fixed:<source name>"
    ucb_c: float = Field(1.0, ge=0.0)
    self_win_rate: float | None = Field(
        None, gt=0.0, le=1.0,
        description="the self arm's constant credit per prompt; default Rp/K + 0.05 (0.55 for the paper's Rp/K = 1/2). "
        "A source that copies the online policy earns Rp/K, so an explicit value must lie above Rp/K")
    refresh_every: int = Field(200, ge=1)
    best_of_n: int = Field(32, ge=1)  # N extra responses for a source arm
    num_replace: int = Field(4, ge=0)  # Rp of the K responses replaced by the top-Rp of N
    pair_strategy: Literal["max_min", "max_random", "random"] = "max_min"

    @field_validator("mode")
    @classmethod
    def _mode(cls, v: str) -> str:
        if v in ("ucb", "none") or (v.startswith("fixed:") and len(v) > 6):
            return v
        raise ValueError(f"must be 'ucb', 'none' or 'fixed:<source name>', got {v!r}")


class OptimConfig(_Section):
    loss: Literal["dpo", "ipo", "xpo"] = "dpo"
    beta: float = Field(0.1, gt=0.0)
    lr: float = Field(5e-5, gt=0.0)
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(64, ge=1, description="pairs per optimizer step over all workers (the paper's 64)")
    micro_batch_size: int = Field(
        8, ge=1, description="pairs per forward pass on one worker; batch_size / (micro_batch_size * train.num_workers) "
        "micro-batches are accumulated per step")
    logp_reduction: Literal["sum", "mean"] = "sum"  # IPO is usually run with "mean"
    xpo_alpha: float = Field(1e-5, ge=0.0)
    reference: Literal["iteration", "initial"] = "iteration"
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    lr_schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="learning-rate schedule within an iteration, after warm-up (the paper: cosine)")
    warmup_steps: float = Field(
        100, ge=0.0, description="linear warm-up steps per iteration (the paper's 100); a value below 1 is a fraction "
        "of the iteration's optimizer steps")
    reset_optimizer: bool = Field(
        True, description="a fresh AdamW state and schedule every iteration, as the paper's per-iteration trainer; "
        "false keeps one AdamW state across iterations")
    disable_dropout: bool = Field(
        True, description="train with dropout off, as the reference policy is evaluated (TRL's and the paper's default)")


class TrainConfig(_Section):
    iterations: int = Field(3, ge=1)
    prompts_per_iteration: int = Field(10000, ge=1)
    responses_per_prompt: int = Field(8, ge=2)  # K
    num_workers: int = Field(2, ge=1)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0.0)
    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp", description="how Ray Train spreads the learner (ray.train.torch.prepare_model): a full copy per worker "
        "(ddp) or parameters, gradients and optimizer state sharded over the workers (fsdp)")
    gradient_checkpointing: bool = Field(False, description="recompute activations in the backward pass (less memory)")


class EvalConfig(_Section):
    num_prompts: int = Field(200, ge=1)
    # held-out samples per prompt per policy; win rates average over them (less evaluation noise per seed)
    samples_per_prompt: int = Field(4, ge=1)
    reward_pairs: int = Field(200, ge=10)  # pairs sampled from the initial policy for `rewards evaluate`
    max_new_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0)
