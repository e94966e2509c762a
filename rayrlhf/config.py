"""Typed, validated run configuration: YAML file + dotted ``key=value`` overrides.

Every default lives here, once. The defaults are the paper's experiment (PAPER.md: K=8, N=32, Rp=4,
beta=0.1, lr 5e-5, 3 epochs, 3 iterations); ``examples/quickstart.yaml`` shrinks them to laptop size.
Unknown keys, wrong types, out-of-range or non-finite values and keys written twice in the YAML raise
:class:`ConfigError` before any work starts (value checks and the strict loader: ``config_checks.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rayrlhf import config_checks as checks


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


class TaskConfig(_Section):
    """The built-in summarisation task (``data.dataset: builtin``)."""

    seed: int = 0
    num_train: int = Field(2000, ge=10)
    num_eval: int = Field(200, ge=10)
    num_heldout: int = Field(200, ge=10)
    sft_steps: int = Field(600, ge=0)
    judge_lm_steps: int = Field(300, ge=0)
    cache_dir: str | None = None  # default: $RAYRLHF_CACHE or ~/.cache/rayrlhf

    _seed = field_validator("seed")(lambda v: checks.check_seed(v))


class DataConfig(_Section):
    dataset: str = "builtin"  # "builtin", a local .jsonl/.json/.parquet/.csv file, or an HF dataset id
    split: str = "train"
    eval_split: str | None = None  # held-out prompts; builtin uses "heldout", a single file holds out its tail
    prompt_field: str = "prompt"
    reference_field: str | None = "reference"
    prompt_template: str = "{prompt}"
    on_bad_row: Literal["error", "skip"] = "error"
    max_rows: int | None = Field(None, ge=1)

    _template = field_validator("prompt_template")(lambda v: checks.check_template(v))


class LoraConfig(_Section):
    """LoRA adapters through ``peft`` (Hu et al. 2021): the base weights stay frozen, the reference policy is the
    model with its adapter disabled (no second copy), and the adapter is merged into the weights the rollout
    engines load at the end of each iteration."""

    r: int = Field(16, ge=1, description="adapter rank")
    alpha: float = Field(32.0, gt=0.0, description="scaling numerator (the update is alpha / r * B A)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the adapter's input")
    target_modules: list[str] | str = Field(
        "all-linear", description="module names to adapt, or 'all-linear' (every linear layer but the output head)")


class PolicyConfig(_Section):
    model: str = "builtin"  # "builtin" (the task's tiny Llama), a local HF directory or an HF id
    tokenizer: str | None = Field(None, description="tokenizer directory or id, when it is not the model's own")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights and compute in the learner: auto = bfloat16 with train.use_gpu, float32 on CPU")
    trust_remote_code: bool = False
    lora: LoraConfig | None = Field(None, description="train LoRA adapters instead of every weight (null: full fine-tuning)")


class RolloutConfig(_Section):
    backend: Literal["vllm", "hf"] = "vllm"
    num_actors: int = Field(1, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    kv_cache_gib: float = Field(1.0, gt=0.0)  # vLLM-cpu KV cache (VLLM_CPU_KVCACHE_SPACE)
    gpu_memory_utilization: float = Field(
        0.9, gt=0.0, le=1.0, description="share of the engine's GPU memory vLLM may use (weights + KV cache)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="vLLM weights/compute: auto = bfloat16 on a GPU, float32 on CPU")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one vLLM engine shards the model over (num_gpus per actor)")
    max_model_len: int | None = Field(None, ge=16, description="prompt + response tokens per sequence (null: the model's limit)")
    enable_prefix_caching: bool | None = Field(
        None, description="reuse the prompt's KV cache across the K + N samples (null: vLLM's default)")
    enforce_eager: bool | None = Field(None, description="no CUDA graphs (null: eager on CPU, graphs on a GPU)")
    num_cpus: float = Field(1.0, gt=0.0)
    num_gpus: float = Field(0.0, ge=0.0)
    resources: dict[str, float] = Field(default_factory=dict)  # custom Ray resources, e.g. {"rollout_node": 1}

    _resources = field_validator("resources")(lambda v: checks.check_resources(v))


class SourceConfig(_Section):
    """One imperfect source reward model (PAPER.md: the W sources)."""

    name: str
    kind: Literal["rouge", "bertscore", "lm_logprob", "classifier", "python"]
    model: str | None = None  # HF id/dir (bertscore, lm_logprob, classifier) or "module:function" (python)
    ref_model: str | None = None  # lm_logprob only: score = log pi(a|s) - log pi_ref(a|s)
    against: Literal["reference", "prompt"] = "reference"  # rouge / bertscore compare with this text
    rouge_type: str = "rougeLsum"
    num_layers: int | None = Field(None, ge=1)  # bertscore: which hidden layer (default: the last)
    logp_reduction: Literal["sum", "mean"] = "sum"
    prompt_template: str = "{prompt}"  # lm_logprob: how the prompt is written before the response
    weight: float = 1.0  # scores are multiplied by this (e.g. beta in beta*log(pi/pi_ref); -1 flips a source)
    empty_score: float = -1.0e3  # score given to an empty response (never sent to the model)
    max_length: int = Field(512, ge=8)  # longer inputs are truncated (with one warning)
    batch_size: int = Field(32, ge=1)
    trust_remote_code: bool = False
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="model-based sources' weights: auto = bfloat16 on a GPU (num_gpus > 0), float32 on CPU")
    num_cpus: float = Field(0.5, gt=0.0)
    num_gpus: float = Field(0.0, ge=0.0)
    resources: dict[str, float] = Field(default_factory=dict)  # custom Ray resources, e.g. {"rm_node": 1}

    _template = field_validator("prompt_template")(lambda v: checks.check_template(v))
    _name = field_validator("name")(lambda v: checks.check_source_name(v))
    _rouge = field_validator("rouge_type")(lambda v: checks.check_rouge_type(v))
    _resources = field_validator("resources")(lambda v: checks.check_resources(v))

    @model_validator(mode="after")
    def _model_required(self) -> SourceConfig:
        if self.kind in ("lm_logprob", "classifier", "python") and not self.model:
            raise ValueError(f"source '{self.name}' of kind '{self.kind}' needs `model`")
        if self.ref_model and self.kind != "lm_logprob":
            raise ValueError(f"source '{self.name}': `ref_model` only applies to kind 'lm_logprob'")
        return self


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


class TrackingConfig(_Section):
    """Experiment trackers, all off by default. Sweeps log through Ray Tune's logger callbacks
    (``MLflowLoggerCallback``, ``WandbLoggerCallback``); ``train``/``compare`` runs through the same libraries."""

    mlflow: bool = False
    mlflow_tracking_uri: str | None = None  # default: file:<output dir>/mlruns (no server needed)
    wandb: bool = False
    wandb_project: str = "rayrlhf"
    wandb_mode: Literal["online", "offline", "disabled"] | None = None  # None: $WANDB_MODE or W&B's default
    experiment: str | None = None  # MLflow experiment / W&B group; default: the output directory's name


class Config(_Section):
    run: RunConfig = Field(default_factory=RunConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    oracle: OracleConfig = Field(default_factory=OracleConfig)
    transfer: TransferConfig = Field(default_factory=TransferConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        names = [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique; repeated: {sorted(dup)}")
        if "self" in names:
            raise ValueError("'self' is the no-transfer arm; rename that source")
        if self.transfer.mode.startswith("fixed:") and self.transfer.mode[6:] not in names:
            raise ValueError(f"transfer.mode {self.transfer.mode!r} names no configured source; sources: {names}")
        if self.rollout.temperature == 0:  # K >= 2 always
            raise ValueError(
                f"rollout.temperature=0 is greedy decoding: the K=train.responses_per_prompt={self.train.responses_per_prompt} "
                f"responses to a prompt (and a source arm's N=transfer.best_of_n={self.transfer.best_of_n}) would all be "
                "the same text, so no preference pair could be formed; set rollout.temperature > 0 (1.0 samples the policy)")
        if self.eval.temperature == 0 and self.eval.samples_per_prompt > 1:
            raise ValueError(f"eval.temperature=0 (greedy) makes the eval.samples_per_prompt={self.eval.samples_per_prompt} "
                             "samples per prompt identical; set eval.samples_per_prompt=1 or eval.temperature > 0")
        if self.transfer.num_replace > min(self.train.responses_per_prompt, self.transfer.best_of_n):
            raise ValueError(
                f"transfer.num_replace={self.transfer.num_replace} exceeds min(K=train.responses_per_prompt="
                f"{self.train.responses_per_prompt}, N=transfer.best_of_n={self.transfer.best_of_n})"
            )
        self._check_transfer_bar()
        self._check_prompt_templates()
        per_step = self.optim.micro_batch_size * self.train.num_workers
        if self.optim.batch_size % per_step:
            raise ValueError(
                f"optim.batch_size={self.optim.batch_size} must be a multiple of optim.micro_batch_size x "
                f"train.num_workers = {self.optim.micro_batch_size} x {self.train.num_workers} = {per_step} "
                "(the rest is gradient accumulation)")
        return self

    def _check_prompt_templates(self) -> None:
        """A source's ``prompt_template`` wraps the prompt as ``data.prompt_template`` already wrote it; the same
        words added twice ("Summarize: Summarize: ...") score text no model was trained on."""
        outer = self.data.prompt_template.split("{prompt}")
        for i, s in enumerate(self.sources):
            inner = s.prompt_template.split("{prompt}")
            twice = [x.strip() for x, y in ((inner[0], outer[0]), (inner[-1], outer[-1])) if x.strip() and x.strip() in y]
            if twice:
                raise ValueError(
                    f"sources.{i}.prompt_template={s.prompt_template!r} adds {twice[0]!r}, which data.prompt_template="
                    f"{self.data.prompt_template!r} already puts in every prompt; set the source's prompt_template to "
                    "'{prompt}'")

    def _check_transfer_bar(self) -> None:
        """UCB compares source arms with the self arm's bar; both must mean something (PAPER.md step 4)."""
        rp, k, explicit = self.transfer.num_replace, self.train.responses_per_prompt, self.transfer.self_win_rate
        if self.transfer.mode != "ucb":
            return
        if rp in (0, k):
            raise ValueError(
                f"transfer.num_replace={rp} with K=train.responses_per_prompt={k}: a source arm then "
                f"{'never' if rp == 0 else 'always'} wins, so UCB learns nothing; use 0 < num_replace < K "
                "(the paper: 4 of 8), or transfer.mode=none")
        if explicit is not None and explicit <= rp / k:
            raise ValueError(
                f"transfer.self_win_rate={explicit} is at or below Rp/K = {rp}/{k} = {rp / k:g}, what a source that "
                "merely copies the online policy earns; set it above Rp/K (or leave it unset: Rp/K + 0.05)")


class ConfigError(ValueError):
    """A configuration problem, worded for the person who wrote the config."""


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key=value (e.g. optim.beta=0.2)")
    key, raw = item.split("=", 1)
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"override {item!r} has an empty key part; write e.g. optim.beta=0.2")
    try:
        value = checks.load_yaml(raw) if raw != "" else ""
    except yaml.constructor.ConstructorError as exc:  # e.g. {a: 1, a: 2}
        raise ConfigError(f"override {item!r}: {exc.problem}") from None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict | list) and not raw.lstrip().startswith(("[", "{")):
        value = raw  # "Q: {prompt}" is text, not a mapping; write [..] or {..} for collections
    return key.split("."), value


def _default_section(parts: list[str]) -> dict:
    """The default of the section at ``parts`` as a dict ({} if none), so that overriding one key of a section
    the YAML leaves out keeps the rest (``oracle.reward.model=...`` keeps the default oracle's name and kind)."""
    node: Any = Config().model_dump()
    for part in parts:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Set dotted ``key=value`` items in a nested dict; list elements are addressed by index
    (``sources.0.weight=2``). Values are parsed as YAML scalars (``0.2`` is a float, ``abc`` a string,
    ``null`` is None); a value starting with ``[`` or ``{`` is a YAML collection."""
    for item in overrides:
        parts, value = _parse_override(item)
        node: Any = raw
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(
                        f"override {item!r}: '{where}' indexes a list of {len(node)} items; "
                        f"use an index 0..{len(node) - 1}"
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:  # absent, or an explicit `null` section: start from its defaults
                        node[part] = _default_section(parts[: depth + 1])
                    node = node[part]
            else:
                raise ConfigError(f"override {item!r}: '{'.'.join(parts[:depth])}' is a value, not a section")
    return raw


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Load ``path`` (YAML, safely), apply ``overrides``, validate. Raises :class:`ConfigError`."""
    raw: Any = {}
    origin = "defaults"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}{' (a directory)' if p.is_dir() else ''} (try examples/quickstart.yaml)")
        try:
            with p.open(encoding="utf-8") as f:  # an open file: marks in messages name it
                raw = checks.load_yaml(f)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p} is not valid YAML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 YAML") from None
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ConfigError(f"{p} must hold a mapping of sections (run, data, ...), got {type(raw).__name__}")
        origin = str(p)
    if overrides:
        raw = apply_overrides(raw, list(overrides))
        origin += " + overrides"
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid config ({origin}):\n  " + "\n  ".join(checks.describe_errors(exc, Config))) from None


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML (saved with every run)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
