"""One preference-optimisation pass over (chosen, rejected) pairs: plain torch, no Ray.

Ray Train runs :func:`train_epochs` on every worker over that worker's shard; DDP averages the gradients.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from rayrlhf.algorithms.losses import preference_loss, sequence_logps
from rayrlhf.config import OptimConfig


@dataclass(frozen=True)
class PreferenceExample:
    """A training pair; ``explore`` is a plain policy sample for the same prompt (XPO's ``a~``)."""

    prompt: str
    chosen: str
    rejected: str
    explore: str = ""


def encode_responses(tokenizer, prompts: Sequence[str], responses: Sequence[str], max_length: int = 512) -> dict:
    """Right-padded prompt+response+EOS ids with a mask on the response tokens, aligned for next-token
    prediction (``labels[:, t]`` is predicted by ``logits[:, t]``)."""
    rows = []
    for p, r in zip(prompts, responses, strict=True):
        p_ids = tokenizer(p)["input_ids"]
        r_ids = tokenizer(r, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = (p_ids + r_ids)[-max_length:]
        start = max(0, len(ids) - len(r_ids))
        rows.append((ids, start))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    response = torch.zeros_like(input_ids)
    for i, (ids, start) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        attention[i, : len(ids)] = 1
        response[i, start : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": input_ids[:, 1:], "mask": response[:, 1:]}


def encode_seq2seq(tokenizer, prompts: Sequence[str], responses: Sequence[str], max_length: int = 512) -> dict:
    """Encoder inputs (the prompts) and decoder labels (the responses + EOS) for encoder-decoder policies."""
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    lab = tokenizer(list(responses), return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": lab["input_ids"],
            "mask": lab["attention_mask"], "seq2seq": True}


def encode(tokenizer, model, prompts: Sequence[str], responses: Sequence[str]) -> dict:
    seq2seq = getattr(getattr(model, "module", model).config, "is_encoder_decoder", False)
    return (encode_seq2seq if seq2seq else encode_responses)(tokenizer, prompts, responses)


def batch_logps(model, enc: dict, reduction: str, *extra: str) -> list[torch.Tensor]:
    """Sequence log-probs under ``model`` with one forward pass, for each requested reduction."""
    if enc.get("seq2seq"):
        labels = enc["labels"].masked_fill(enc["mask"] == 0, -100)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).logits.float()
    else:
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[:, :-1].float()
    return [sequence_logps(logits, enc["labels"], enc["mask"], r) for r in (reduction, *extra)]


def pair_loss(model, ref_model, tokenizer, batch: Sequence[PreferenceExample], cfg: OptimConfig):
    """Mean preference loss of a batch plus its diagnostics (reward margin, accuracy, KL estimate).

    One forward pass of the policy per step (DDP needs exactly one): chosen, rejected and, for XPO, the
    exploration samples are encoded together."""
    n = len(batch)
    groups = [[b.chosen for b in batch], [b.rejected for b in batch]]
    if cfg.loss == "xpo":
        groups.append([b.explore for b in batch])
    enc = encode(tokenizer, model, [b.prompt for b in batch] * len(groups), [r for g in groups for r in g])
    policy, policy_sum = batch_logps(model, enc, cfg.logp_reduction, "sum")
    with torch.no_grad():
        ref, ref_sum = batch_logps(ref_model, enc, cfg.logp_reduction, "sum")
    out = preference_loss(cfg.loss, policy[:n], policy[n : 2 * n], ref[:n], ref[n : 2 * n], cfg.beta,
                          xpo_alpha=cfg.xpo_alpha, policy_ref_sample_logps=policy_sum[2 * n :] if cfg.loss == "xpo" else None)
    margin = (out.chosen_rewards - out.rejected_rewards).detach()
    stats = {
        "loss": out.losses.mean().item(),
        "reward_margin": margin.mean().item(),
        "reward_accuracy": (margin > 0).float().mean().item(),
        # log pi - log pi_ref on the policy's own (chosen+rejected) responses: a sample KL estimate
        "kl": (policy_sum[: 2 * n].detach() - ref_sum[: 2 * n]).mean().item(),
    }
    return out.losses.mean(), stats


def train_epochs(model, ref_model, tokenizer, optimizer, data: Sequence[PreferenceExample], cfg: OptimConfig, seed: int,
                 on_step=None) -> dict:
    """``cfg.epochs`` passes over ``data`` in shuffled mini-batches; returns the mean diagnostics."""
    rng = random.Random(seed)
    totals: dict[str, float] = {}
    steps = 0
    model.train()
    for _ in range(cfg.epochs):
        order = list(range(len(data)))
        rng.shuffle(order)
        for b in range(0, len(order), cfg.batch_size):
            batch = [data[i] for i in order[b : b + cfg.batch_size]]
            loss, stats = pair_loss(model, ref_model, tokenizer, batch, cfg)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v
            steps += 1
            if on_step:
                on_step(steps)
    model.eval()
    return {k: v / max(1, steps) for k, v in totals.items()} | {"steps": steps}
