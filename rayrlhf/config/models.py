"""Sections for what is trained and scored: the built-in task, the data, the policy, its rollouts, the sources."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from rayrlhf.config import checks
from rayrlhf.config.plugins import BUILTIN_SOURCE_KINDS, SOURCE_KINDS, PluginChoice
from rayrlhf.config.runtime import _Section
from rayrlhf.config.scopes import PER_RUN
from rayrlhf.config.services import EndpointConfig, JudgeConfig


class TaskConfig(_Section):
    """The built-in task (``data.dataset: builtin``), one of two worlds: its data, initial policy and judge LM are
    built once and cached (``rayrlhf task build``); changing a key here (but cache_dir) builds a new one."""

    name: Literal["summaries", "instructions"] = Field(
        "summaries", description="the world: `summaries` (news briefs, r* counts key facts) or `instructions` (short "
        "texts under verifiable rules, r* a hidden rubric; set `oracle.reward.model: "
        "rayrlhf.task.instructions.oracle:gold_reward`, as examples/instructions.yaml does)")
    seed: int = Field(0, description="seeds the task's documents, summaries and models (`0 <= seed < 2**32`)")
    num_train: int = Field(2000, ge=10, description="prompts in the `train` split (and documents for the SFT warm start)")
    num_eval: int = Field(
        200, ge=10, description="prompts in the `eval` split (`rayrlhf rewards evaluate` samples its pairs there)")
    num_heldout: int = Field(200, ge=10, description="prompts in the `heldout` split (the training run's held-out evaluation)")
    sft_steps: int = Field(600, ge=0, description="SFT steps of the initial policy on noisy summaries (fewer: a weaker policy)")
    judge_lm_steps: int = Field(300, ge=0, description="training steps of the `builtin:judge_lm` source on clean summaries")
    cache_dir: str | None = Field(None, description="where built tasks are cached (null: $RAYRLHF_CACHE, else ~/.cache/rayrlhf)")

    _seed = field_validator("seed")(lambda v: checks.check_seed(v))


class DataConfig(_Section):
    """The prompts (and reference answers) the policy is trained and evaluated on."""

    dataset: str = Field(
        "builtin", description="`builtin` (the built-in task), a local .jsonl/.json/.parquet/.csv file, or a Hugging "
        "Face dataset id")
    split: str = Field("train", description="the split the training prompts come from (ignored for a local file)")
    eval_split: str | None = Field(
        None, description="the split of held-out evaluation prompts (null: `heldout` for builtin; a local file holds "
        "out its last eval.num_prompts rows)")
    prompt_field: str = Field("prompt", description="the column holding the prompt text")
    reference_field: str | None = Field(
        "reference", description="the column holding a reference answer, for sources with `against: reference` and "
        "the built-in oracle (null: no references)")
    prompt_template: str = Field(
        "{prompt}", description="how each prompt is written for the policy; must contain `{prompt}` "
        "(e.g. `Summarize: {prompt}`)")
    on_bad_row: Literal["error", "skip"] = Field(
        "error", description="a row with a missing, empty or non-text field stops the run naming the row (`error`) "
        "or is skipped and counted (`skip`)")
    max_rows: int | None = Field(None, ge=1, description="read at most this many rows of each split (null: all)")

    _template = field_validator("prompt_template")(lambda v: checks.check_template(v))


class LoraConfig(_Section):
    """LoRA adapters through ``peft`` (Hu et al. 2021): the base weights stay frozen, the reference policy is the
    model with its adapter disabled (no second copy), and the adapter is merged into the weights the rollout
    engines load at the end of each iteration."""

    r: int = Field(16, ge=1, description="adapter rank")
    alpha: float = Field(32.0, gt=0.0, description="scaling numerator (the update is `alpha / r * B A`)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the adapter's input")
    target_modules: list[str] | str = Field(
        "all-linear", description="module names to adapt, or 'all-linear' (every linear layer but the output head)")


class PolicyConfig(_Section):
    """The policy being trained (the paper's T5-small); its initial weights are the first reference policy."""

    model: str = Field(
        "builtin", description="`builtin` (the built-in task's tiny Llama), a local HF model directory or an HF id")
    tokenizer: str | None = Field(None, description="tokenizer directory or id, when it is not the model's own")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights and compute in the learner: auto = bfloat16 with train.use_gpu, float32 on CPU")
    trust_remote_code: bool = Field(
        False, description="let transformers and vLLM run the model repository's own code (run only models you trust)")
    lora: LoraConfig | None = Field(None, description="train LoRA adapters instead of every weight (null: full fine-tuning)")


class RolloutConfig(_Section):
    """The rollout engines that sample the K responses per prompt and the N Best-of-N extras of empirical TPO."""

    backend: Literal["vllm", "hf"] = Field(
        "vllm", description="`vllm` engines (updated in place), or transformers `generate` (`hf`: encoder-decoder "
        "policies such as T5, which vLLM does not serve)")
    num_actors: int = Field(1, ge=1, description="rollout engines; the prompts are split evenly over them")
    samples_in_one_call: Annotated[bool, PER_RUN] = Field(
        False, description="transfer.delay 0 or 1: every round's K online samples of an iteration from one engine call "
        "at its start (they do not depend on the arms), each round then calling the engine only for its Best-of-N "
        "extras (delay `iteration` makes one call anyway). Off by default: benchmark 2 measured no gain on the CPU "
        "engine")
    max_new_tokens: int = Field(64, ge=1, description="tokens generated per response at most")
    temperature: float = Field(1.0, ge=0.0, description="sampling temperature (the paper's 1.0; 0 is greedy and is refused)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus-sampling mass (1: sample the full distribution)")
    kv_cache_gib: float = Field(
        1.0, gt=0.0, description="GiB of KV cache of a vLLM engine on CPU (VLLM_CPU_KVCACHE_SPACE, rounded to a whole "
        "GiB, at least 1); on a GPU gpu_memory_utilization sizes it")
    gpu_memory_utilization: float = Field(
        0.9, gt=0.0, le=1.0, description="share of the engine's GPU memory vLLM may use (weights + KV cache)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="vLLM weights/compute: auto = bfloat16 on a GPU, float32 on CPU")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one vLLM engine shards the model over (num_gpus per actor)")
    max_model_len: int | None = Field(None, ge=16, description="prompt + response tokens per sequence (null: the model's limit)")
    enable_prefix_caching: bool | None = Field(
        None, description="reuse the prompt's KV cache across the K + N samples (null: vLLM's default)")
    enforce_eager: bool | None = Field(None, description="no CUDA graphs (null: eager on CPU, graphs on a GPU)")
    num_cpus: float = Field(1.0, gt=0.0, description="CPUs Ray reserves for each rollout actor")
    num_gpus: float = Field(0.0, ge=0.0, description="GPUs Ray reserves for each rollout actor (> 0: the engine runs on a GPU)")
    resources: dict[str, float] = Field(
        default_factory=dict, description="custom Ray resources each rollout actor needs, e.g. {rollout_node: 1}")

    _resources = field_validator("resources")(lambda v: checks.check_resources(v))


class SourceConfig(_Section):
    """One imperfect source reward model (the paper's W sources), one Ray actor each. Text in, one float per
    response out; each model tokenizes with its own tokenizer."""

    name: str = Field(description="a unique name (letters, digits, `_ - .`): the arm in UCB, metric keys, "
                      "`fixed:<name>` in transfer.mode")
    kind: Annotated[str, PluginChoice(SOURCE_KINDS, BUILTIN_SOURCE_KINDS)] = Field(
        description="ROUGE F1, BERTScore F1, an LM's `log p(response | prompt)` (in this actor, or over a completions "
        "`endpoint`), an HF sequence-classification reward model, a Python function, a server over HTTP "
        "(`endpoint`), or an LLM judge's rating (an OpenAI-compatible chat `endpoint`, `judge`)")
    model: str | None = Field(
        None, description="HF id or directory (bertscore, lm_logprob, classifier; `builtin:judge_lm` is the built-in "
        "task's judge LM; bertscore's default is a packaged MiniLM) or `module:function` (python)")
    ref_model: str | None = Field(
        None, description="lm_logprob only: a reference LM; the score becomes `log pi(a|s) - log pi_ref(a|s)`")
    against: Literal["reference", "prompt"] = Field(
        "reference", description="rouge / bertscore compare the response with the reference answer or with the prompt")
    rouge_type: str = Field(
        "rougeLsum", description="rouge: the variant (rouge1..rouge9, rougeL, rougeLsum; the paper's ROUGE-Lsum)")
    num_layers: int | None = Field(None, ge=1, description="bertscore: the hidden layer whose embeddings are compared "
                                   "(null: the last)")
    logp_reduction: Literal["sum", "mean"] = Field(
        "sum", description="lm_logprob: sum or per-token mean of the response's token log-probabilities")
    prompt_template: str = Field(
        "{prompt}", description="lm_logprob: how the prompt (as data.prompt_template wrote it) is written before the "
        "response; must contain `{prompt}`")
    weight: float = Field(
        1.0, description="scores are multiplied by this (e.g. beta in the paper's `beta*log(pi/pi_ref)`; -1 flips a source)")
    empty_score: float = Field(-1.0e3, description="score given to an empty response, which is never sent to the model")
    max_length: int = Field(512, ge=8, description="tokens per model input; longer inputs are truncated (with one warning)")
    batch_size: int = Field(32, ge=1, description="responses per forward pass of a model-based source")
    trust_remote_code: bool = Field(
        False, description="let transformers run the model repository's own code (run only models you trust)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="model-based sources' weights: auto = bfloat16 on a GPU (num_gpus > 0), float32 on CPU")
    num_cpus: float = Field(0.5, gt=0.0, description="CPUs Ray reserves for this source's actor")
    num_gpus: float = Field(0.0, ge=0.0, description="GPUs Ray reserves for this source's actor (> 0: the model runs on a GPU)")
    resources: dict[str, float] = Field(
        default_factory=dict, description="custom Ray resources this source's actor needs, e.g. {rm_node: 1}")
    endpoint: EndpointConfig | None = Field(
        None, description="http / judge, and lm_logprob served elsewhere: the server that scores (url, token, "
        "timeouts); with lm_logprob, `model` is then the LM's tokenizer (the LM itself is served)")
    judge: JudgeConfig | None = Field(None, description="judge: its prompts, parsing and prices (null: the defaults)")

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
        if self.kind in ("http", "judge") and self.endpoint is None:
            raise ValueError(f"source '{self.name}': kind '{self.kind}' needs `endpoint` (url, token_env, ...)")
        if self.endpoint is not None and self.kind not in ("http", "judge", "lm_logprob"):
            raise ValueError(f"source '{self.name}': kind '{self.kind}' takes no `endpoint` (only http, judge and "
                             "lm_logprob do); use kind: http for a server that scores in the rewards protocol")
        if self.kind == "lm_logprob" and self.endpoint is not None and self.ref_model:
            raise ValueError(f"source '{self.name}': `ref_model` cannot be used with an lm_logprob `endpoint`; make the "
                             "reference LM its own source (weight: -1) or drop the endpoint")
        if self.kind == "judge" and self.endpoint is not None and not (self.endpoint.model or self.model):
            raise ValueError(f"source '{self.name}': kind 'judge' needs the served model's name: endpoint.model (or model)")
        if self.judge is not None and self.kind != "judge":
            raise ValueError(f"source '{self.name}': `judge` only applies to kind 'judge'")
        return self

    def judge_settings(self) -> JudgeConfig:
        """kind judge: its settings, the defaults where none are given."""
        return self.judge or JudgeConfig()
