"""One iteration's preference optimisation over (chosen, rejected) pairs: plain torch, no Ray.

Ray Train runs :func:`train_epochs` on every worker over that worker's shard; DDP averages the gradients. The
recipe is the paper's per-iteration trainer (docs/method.md step 5; README "Training recipe"): ``optim.epochs`` passes,
``optim.batch_size`` pairs per optimizer step over all workers (micro-batches accumulated), linear warm-up then
cosine decay, dropout off.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Sequence
from dataclasses import replace

import torch

from rayrlhf.algorithms.losses import LOSSES, Loss, RankedBelow, preference_loss, register_loss, sequence_logps
from rayrlhf.config import OptimConfig
from rayrlhf.config.plugins import LOSSES as LOSSES_GROUP
from rayrlhf.config.plugins import plugin_object
from rayrlhf.core.encoding import prompt_response_ids
from rayrlhf.core.records import PreferencePair


def encode_responses(tokenizer, prompts: Sequence[str], responses: Sequence[str], max_length: int = 512) -> dict:
    """Right-padded prompt+response+EOS ids (cut from the left past ``max_length``: the response's end is kept) with
    a mask on the response tokens, aligned for next-token prediction (``labels[:, t]`` is predicted by
    ``logits[:, t]``)."""
    rows = [prompt_response_ids(tokenizer, p, r, max_length, "left") for p, r in zip(prompts, responses, strict=True)]
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
    """Sequence log-probs under ``model`` with one forward pass, for each requested reduction (the batch is moved
    to the model's device; log-probs are computed in float32 whatever the model's dtype)."""
    device = next(model.parameters()).device
    enc = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in enc.items()}
    if enc.get("seq2seq"):
        labels = enc["labels"].masked_fill(enc["mask"] == 0, -100)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).logits.float()
    else:
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[:, :-1].float()
    return [sequence_logps(logits, enc["labels"], enc["mask"], r) for r in (reduction, *extra)]


def ranked_below(policy: torch.Tensor, ref: torch.Tensor, owners: Sequence[int], n: int) -> RankedBelow:
    """The further rejected responses' log-probs (flat, ``owners[k]`` the pair of entry ``k``) as ``(n, m)`` rows padded
    to the longest list, for :class:`~rayrlhf.algorithms.losses.RankedBelow` (differentiable in ``policy``)."""
    columns, taken = [], [0] * n
    for owner in owners:
        columns.append(taken[owner])
        taken[owner] += 1
    index = (torch.tensor(owners, device=policy.device), torch.tensor(columns, device=policy.device))
    width = max(taken)
    mask = torch.zeros((n, width), dtype=torch.bool, device=policy.device).index_put(index, torch.tensor(True, device=policy.device))
    return RankedBelow(policy.new_zeros((n, width)).index_put(index, policy), ref.new_zeros((n, width)).index_put(index, ref), mask)


def loss_named(name: str) -> Loss:
    """The loss ``optim.loss`` names: a registered one (:data:`LOSSES`), else one a package registers in entry-point
    group ``rayrlhf.losses`` (a :class:`~rayrlhf.algorithms.losses.Loss`, registered here on first use)."""
    if name not in LOSSES:
        register_loss(plugin_object(LOSSES_GROUP, name, Loss))
    return LOSSES[name]


def pair_loss(model, ref_model, tokenizer, batch: Sequence[PreferencePair], cfg: OptimConfig):
    """Mean preference loss of a batch plus its diagnostics (reward margin, accuracy, mean log-ratio).

    One forward pass of the policy per step (DDP needs exactly one): chosen, rejected, for XPO the exploration
    samples and, for listwise pairs, every further rejected response are encoded together."""
    n = len(batch)
    groups = [[b.chosen for b in batch], [b.rejected for b in batch]]
    samples_reference = loss_named(cfg.loss).samples_reference
    if samples_reference:
        groups.append([b.explore for b in batch])
    owners = [i for i, b in enumerate(batch) for _ in b.more_rejected]  # listwise: whose further rejected response
    prompts = [b.prompt for b in batch] * len(groups) + [batch[i].prompt for i in owners]
    enc = encode(tokenizer, model, prompts, [r for g in groups for r in g] + [t for b in batch for t in b.more_rejected])
    policy, policy_sum, policy_mean = batch_logps(model, enc, cfg.logp_reduction, "sum", "mean")
    with torch.no_grad():
        ref, ref_sum = batch_logps(ref_model, enc, cfg.logp_reduction, "sum")
    m = len(groups) * n
    below = ranked_below(policy[m:], ref[m:], owners, n) if owners else None
    out = preference_loss(cfg.loss, policy[:n], policy[n : 2 * n], ref[:n], ref[n : 2 * n], cfg.beta,
                          xpo_alpha=cfg.xpo_alpha, policy_ref_sample_logps=policy_sum[2 * n : m] if samples_reference else None,
                          ranked_below=below, nll_weight=cfg.nll_weight, policy_chosen_token_logps=policy_mean[:n])
    w = torch.tensor([b.weight for b in batch], dtype=out.losses.dtype, device=out.losses.device)
    total = w.sum().clamp_min(1e-12)  # a batch of padding alone (weight 0) contributes nothing

    def mean(x: torch.Tensor) -> float:
        return float((x.detach() * w).sum() / total)

    margin = (out.chosen_rewards - out.rejected_rewards).detach()
    stats = {
        "loss": mean(out.losses),
        "reward_margin": mean(margin),
        "reward_accuracy": mean((margin > 0).to(w.dtype)),
        "chosen_nll": mean(-policy_mean[:n]),  # per token, whether or not optim.nll_weight trains on it
        # mean log pi - log pi_ref over the batch's chosen and rejected responses (not a KL: they are the
        # iteration's annotated responses, not fresh samples of the policy being trained)
        "logratio": mean((policy_sum[:n].detach() - ref_sum[:n] + policy_sum[n : 2 * n].detach() - ref_sum[n : 2 * n]) / 2),
        "tokens": float(enc["attention_mask"].sum().item() + (enc["mask"].sum().item() if enc.get("seq2seq") else 0)),
    }
    return (out.losses * w).sum() / total, stats


def disable_dropout(model: torch.nn.Module) -> None:
    """Dropout off (TRL's ``disable_dropout``, the authors' default): every ``nn.Dropout`` and every float
    dropout rate a module applies functionally (Llama/Qwen attention's ``attention_dropout``). The policy is then
    trained as the reference is evaluated, and at initialisation DPO's loss is exactly log 2."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        for name, value in vars(module).items():
            if "dropout" in name and isinstance(value, float):
                setattr(module, name, 0.0)


def make_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters (all of them, or a LoRA adapter's)."""
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
    """Linear warm-up over ``optim.warmup_steps`` (a fraction of ``total_steps`` when below 1), then cosine decay
    to 0 or a constant rate (transformers' schedulers)."""
    from transformers import get_scheduler

    warmup = math.ceil(cfg.warmup_steps * total_steps) if cfg.warmup_steps < 1 else int(cfg.warmup_steps)
    name = "cosine" if cfg.lr_schedule == "cosine" else "constant_with_warmup"
    return get_scheduler(name, optimizer, num_warmup_steps=min(warmup, total_steps), num_training_steps=total_steps)


def steps_per_epoch(num_examples: int, cfg: OptimConfig, num_workers: int) -> tuple[int, int]:
    """(optimizer steps per epoch, micro-batches accumulated per step) for a worker holding ``num_examples``."""
    accumulation = cfg.batch_size // (cfg.micro_batch_size * num_workers)
    return math.ceil(num_examples / (cfg.micro_batch_size * accumulation)), accumulation


def optimizer_step(model, ref_model, tokenizer, optimizer, step: Sequence[PreferencePair], cfg: OptimConfig) -> dict:
    """One optimizer step over ``step`` in micro-batches of ``optim.micro_batch_size`` (gradients accumulated, each
    micro-batch weighted by its share of the step); returns the step's mean diagnostics and the tokens it read."""
    micro = [step[m : m + cfg.micro_batch_size] for m in range(0, len(step), cfg.micro_batch_size)]
    optimizer.zero_grad(set_to_none=True)
    stats_sum: dict[str, float] = {}
    step_weight = sum(b.weight for b in step) or 1.0  # pairs weigh by their weight (padding copies: 0)
    for k, batch in enumerate(micro):
        # DDP/FSDP average gradients once per step: skip the all-reduce on all but the last micro-batch
        sync = k == len(micro) - 1 or not hasattr(model, "no_sync")
        share = sum(b.weight for b in batch) / step_weight
        with contextlib.nullcontext() if sync else model.no_sync():
            loss, stats = pair_loss(model, ref_model, tokenizer, batch, cfg)
            (loss * share).backward()
        for key, v in stats.items():
            stats_sum[key] = stats_sum.get(key, 0.0) + (v if key == "tokens" else v * share)
    if hasattr(model, "clip_grad_norm_"):  # FSDP: the norm over every shard
        model.clip_grad_norm_(cfg.max_grad_norm)
    else:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.max_grad_norm)
    optimizer.step()
    return stats_sum


def planned_steps(per_epoch: int, cfg: OptimConfig) -> int:
    """Optimizer steps of one iteration: ``optim.epochs`` passes, or ``optim.max_steps`` when fewer, but never less
    than one whole pass (every pair of the iteration, paid or replayed, is trained on at least once)."""
    total = per_epoch * cfg.epochs
    return total if cfg.max_steps is None else min(total, max(per_epoch, cfg.max_steps))


def train_epochs(model, ref_model, tokenizer, optimizer, data: Sequence[PreferencePair], cfg: OptimConfig, seed: int,
                 num_workers: int = 1) -> dict:
    """``cfg.epochs`` shuffled passes over this worker's ``data`` (cut at :func:`planned_steps`): each optimizer step
    accumulates micro-batches up to ``optim.batch_size`` pairs over all workers; the learning rate follows
    :func:`make_schedule` over this iteration's steps. Returns the mean diagnostics, the mean learning rate, this
    worker's tokens per second and ``per_step`` rows (loss, lr, tokens/s) for the trackers."""
    rng = random.Random(seed)
    per_epoch, accumulation = steps_per_epoch(len(data), cfg, num_workers)
    total_steps = planned_steps(per_epoch, cfg)
    scheduler = make_schedule(optimizer, cfg, total_steps)
    totals: dict[str, float] = {}
    per_step: list[dict] = []
    model.train()
    step_size = cfg.micro_batch_size * accumulation
    for _ in range(cfg.epochs):
        order = list(range(len(data)))
        rng.shuffle(order)
        for b in range(0, len(order), step_size):
            if len(per_step) == total_steps:
                break
            lr, t0 = scheduler.get_last_lr()[0], time.perf_counter()
            stats = optimizer_step(model, ref_model, tokenizer, optimizer, [data[i] for i in order[b : b + step_size]], cfg)
            scheduler.step()
            stats |= {"lr": lr, "seconds": time.perf_counter() - t0}
            per_step.append({"loss": stats["loss"], "lr": lr, "tokens_per_s": stats["tokens"] / stats["seconds"]})
            for key, v in stats.items():
                totals[key] = totals.get(key, 0.0) + v
    model.eval()
    steps = len(per_step)
    means = {k: v / max(1, steps) for k, v in totals.items() if k not in ("tokens", "seconds")}
    return means | {"steps": steps, "tokens_per_s": totals.get("tokens", 0.0) / max(1e-9, totals.get("seconds", 0.0)),
                    "per_step": per_step}


def pad_to_workers(pairs: Sequence[PreferencePair], num_workers: int) -> list[PreferencePair]:
    """``pairs`` and, at the end, zero-weight copies of the first ones, up to a multiple of ``num_workers``: equal
    shards (DDP needs equal step counts) that drop no pair. A plain equal split drops up to ``num_workers - 1``."""
    if not pairs:
        return []
    short = -len(pairs) % num_workers
    return [*pairs, *(replace(pairs[i % len(pairs)], weight=0.0) for i in range(short))]
