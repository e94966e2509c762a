"""Tiny causal LMs for the built-in task: a BPE tokenizer trained on the task corpus, a Llama-architecture
model (head_dim 32 so vLLM can serve it, untied embeddings so in-place weight reload is exact), and a
short supervised fine-tuning loop on (prompt, summary) pairs. Everything is saved in HF format.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from rayrlhf.core.encoding import prompt_response_ids

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def train_tokenizer(corpus: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on ``corpus``; prepends ``<s>`` like Llama tokenizers do."""
    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    bos = SPECIAL["bos_token"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, **SPECIAL)


def new_llama(tokenizer: PreTrainedTokenizerFast, hidden: int, layers: int, seed: int) -> LlamaForCausalLM:
    """A freshly initialised tiny Llama (head_dim 32, untied embeddings)."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 3, num_hidden_layers=layers,
        num_attention_heads=hidden // 32, num_key_value_heads=hidden // 32, max_position_embeddings=512,
        tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, torch_dtype="float32",
    )
    return LlamaForCausalLM(config)


def encode_pairs(
    tokenizer: PreTrainedTokenizerFast, prompts: Sequence[str], responses: Sequence[str], max_length: int = 512
) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``/``attention_mask``/``labels`` for prompt+response+EOS (cut from the right past
    ``max_length``); labels are -100 outside the response (loss on the summary only)."""
    rows = []
    for p, r in zip(prompts, responses, strict=True):
        ids, start = prompt_response_ids(tokenizer, p, r, max_length, "right")
        rows.append((ids, [-100] * start + ids[start:]))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows])
    labels = torch.tensor([lab[:width] + [-100] * (width - len(lab[:width])) for _, lab in rows])
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows])
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def supervised_finetune(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    examples: Sequence[tuple[str, str]],
    steps: int,
    seed: int,
    batch_size: int = 32,
    lr: float = 2e-3,
    desc: str = "sft",
) -> list[float]:
    """AdamW with linear warm-up and cosine decay; returns the loss curve."""
    from tqdm.auto import tqdm

    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(1, steps)))
    )
    model.train()
    losses = []
    pool = list(examples)
    for _ in tqdm(range(steps), desc=desc, leave=False, mininterval=2.0):
        batch = rng.sample(pool, min(batch_size, len(pool)))
        enc = encode_pairs(tokenizer, [p for p, _ in batch], [r for _, r in batch])
        loss = model(**enc).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


def save_hf(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, path: Path) -> None:
    """HF-format directory (safetensors + tokenizer) that transformers and vLLM both load."""
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
