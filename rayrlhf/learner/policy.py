"""The policy a learner worker trains: loading (dtype, device, tokenizer), LoRA adapters, the reference policy
and the HF checkpoint each iteration ends with. Plain torch / transformers / peft: no Ray.

- Full fine-tuning: the reference is a frozen copy of the iteration's starting weights (``optim.reference:
  iteration``, docs/method.md step 5) or the initial policy.
- LoRA (``policy.lora``): each iteration trains a fresh adapter on top of the policy so far; the reference is the
  same model with the adapter disabled (no second copy), and at the end the adapter is merged into the weights,
  which are saved whole for the rollout engines (vLLM loads full checkpoints).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from rayrlhf.config import Config
from rayrlhf.core.devices import resolve_dtype


def load_policy(model_dir: str, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False):
    """The policy as an HF model in ``dtype``: causal LM, or seq2seq for encoder-decoder configs (T5)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    loader = AutoModelForSeq2SeqLM if getattr(config, "is_encoder_decoder", False) else AutoModelForCausalLM
    return loader.from_pretrained(model_dir, dtype=dtype, trust_remote_code=trust_remote_code)


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


class AdapterDisabled(torch.nn.Module):
    """The reference policy of a LoRA run: the same module with its adapter switched off for the forward pass."""

    def __init__(self, peft_model) -> None:
        super().__init__()
        self.peft_model = peft_model

    @property
    def config(self):
        return self.peft_model.config

    def forward(self, **inputs):
        with self.peft_model.disable_adapter():
            return self.peft_model(**inputs)


class TrainablePolicy:
    """One worker's policy across iterations. ``prepare`` wraps a module for distributed training (Ray Train's
    ``prepare_model`` in a run; the identity in tests)."""

    def __init__(self, cfg: Config, model_dir: str, init_dir: str, device: torch.device, prepare=lambda m: m) -> None:
        from transformers import AutoTokenizer

        self.cfg, self.device, self.prepare = cfg, device, prepare
        self.dtype = resolve_dtype(cfg.policy.dtype, device.type == "cuda")
        trc = cfg.policy.trust_remote_code
        self.tokenizer = AutoTokenizer.from_pretrained(cfg.policy.tokenizer or init_dir, trust_remote_code=trc)
        self.base = self._load(model_dir)
        self.initial = self._load(init_dir).eval() if cfg.optim.reference == "initial" else None
        for p in (self.initial.parameters() if self.initial is not None else ()):
            p.requires_grad_(False)
        self.model: torch.nn.Module | None = None

    def _load(self, path: str) -> torch.nn.Module:
        from rayrlhf.learner.step import disable_dropout

        model = load_policy(path, self.dtype, self.cfg.policy.trust_remote_code).to(self.device)
        if self.cfg.optim.disable_dropout:
            disable_dropout(model)
        if self.cfg.train.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False
        return model

    @property
    def core(self) -> torch.nn.Module:
        """The unwrapped trained module (inside DDP/FSDP)."""
        return getattr(self.model, "module", self.model)

    def begin_iteration(self, start_dir: str) -> tuple[torch.nn.Module, torch.nn.Module]:
        """(model to train, wrapped for distribution; frozen reference policy) for an iteration that starts from the
        weights in ``start_dir``."""
        lora, sharded = self.cfg.policy.lora, self.cfg.train.strategy == "fsdp"
        if lora is not None:
            from peft import LoraConfig, get_peft_model

            adapter = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                 target_modules=lora.target_modules, task_type=self._task_type())
            peft_model = get_peft_model(self.base, adapter)
            if self.cfg.train.gradient_checkpointing:
                peft_model.enable_input_require_grads()  # checkpointed blocks need a grad-carrying input
            self.model = self.prepare(peft_model)
            return self.model, self.initial if self.initial is not None else AdapterDisabled(peft_model).eval()
        if self.model is None:
            self.model = self.prepare(self.base)
        if self.initial is not None:
            return self.model, self.initial
        # the iteration's starting policy, frozen: a copy of the weights, or (sharded) loaded and sharded again
        reference = self.prepare(self._load(start_dir)) if sharded else copy.deepcopy(self.core)
        for p in reference.parameters():
            p.requires_grad_(False)
        return self.model, reference.eval()

    def _task_type(self) -> str:
        return "SEQ_2_SEQ_LM" if getattr(self.base.config, "is_encoder_decoder", False) else "CAUSAL_LM"

    def end_iteration(self) -> None:
        """Fold a LoRA adapter into the weights, so the next iteration (and its reference) starts from them."""
        if self.cfg.policy.lora is not None:
            self.base = self.core.merge_and_unload()
            self.model = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The full weights on CPU (gathered from FSDP shards when sharded)."""
        if self.cfg.train.strategy == "fsdp" and torch.distributed.is_initialized():
            from torch.distributed.fsdp import FullStateDictConfig, StateDictType
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            with FSDP.state_dict_type(self.model, StateDictType.FULL_STATE_DICT,
                                      FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
                return self.model.state_dict()
        return {k: v.detach().to("cpu") for k, v in self.base.state_dict().items()}

    def save(self, out_dir: Path, state: dict[str, torch.Tensor] | None = None) -> None:
        """An HF checkpoint of the current weights (in the model's dtype) with the tokenizer."""
        out_dir.mkdir(parents=True, exist_ok=True)
        self.base.save_pretrained(out_dir, state_dict=state, safe_serialization=True)
        self.tokenizer.save_pretrained(out_dir)
