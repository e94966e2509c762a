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


class RunConfig(_Section):
    seed: int = 0
    output_dir: str = "runs/default"
    ray_address: str | None = None  # an existing cluster ("auto", "ray://..."); default: $RAY_ADDRESS or a local Ray
    placement: Literal["pack", "spread"] = "pack"  # how the rollout and reward actors are spread over nodes
    placement_timeout_s: float = Field(120.0, gt=0.0)  # then fail, naming the missing resources

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


class PolicyConfig(_Section):
    model: str = "builtin"  # "builtin" (the task's tiny Llama), a local HF directory or an HF id
    tokenizer: str | None = None
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    trust_remote_code: bool = False


class RolloutConfig(_Section):
    backend: Literal["vllm", "hf"] = "vllm"
    num_actors: int = Field(1, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    kv_cache_gib: float = Field(1.0, gt=0.0)  # vLLM-cpu KV cache (VLLM_CPU_KVCACHE_SPACE)
    gpu_memory_utilization: float = Field(0.1, gt=0.0, le=1.0)
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


class OracleConfig(_Section):
    """The expensive annotator ("human"), simulated by a reward model (the built-in gold oracle by default)."""

    reward: SourceConfig = Field(default_factory=_default_oracle_reward)
    labels: Literal["deterministic", "bradley_terry"] = "deterministic"
    temperature: float = Field(1.0, gt=0.0)  # Bradley-Terry / Plackett-Luce temperature
    abstain_margin: float = Field(0.0, ge=0.0)  # abstain when best and worst differ by <= this
    budget: int | None = Field(None, ge=1)  # max oracle queries per run


class TransferConfig(_Section):
    mode: str = "ucb"  # "ucb", "none", or "fixed:<source name>"
    ucb_c: float = Field(1.0, ge=0.0)
    self_win_rate: float = Field(0.55, ge=0.0, le=1.0)
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
    batch_size: int = Field(8, ge=1)
    logp_reduction: Literal["sum", "mean"] = "sum"  # IPO is usually run with "mean"
    xpo_alpha: float = Field(1e-5, ge=0.0)
    reference: Literal["iteration", "initial"] = "iteration"
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)


class TrainConfig(_Section):
    iterations: int = Field(3, ge=1)
    prompts_per_iteration: int = Field(10000, ge=1)
    responses_per_prompt: int = Field(8, ge=2)  # K
    num_workers: int = Field(2, ge=1)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0.0)


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
        return self


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
