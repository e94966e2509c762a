"""GPU check of rayrlhf's learner, sampler and reward models (torch, transformers and peft only: no Ray, no vLLM).

    python benchmarks/gpu_check.py --task-dir DIR [--out FILE.json] [--budget-s 480]

``DIR`` holds the built-in task's ``policy/`` and ``judge_lm/`` (``rayrlhf task build`` writes them under
``$RAYRLHF_CACHE/task-*``) and ``prompts.json`` (``[{"prompt", "reference"}]``). What runs, each on CUDA, and what
it prints (tokens/s, checks):

1. the learner's iteration step (rayrlhf.learner.policy.TrainablePolicy + step.train_epochs) in bfloat16 on the
   built-in policy and on a randomly initialised Qwen2.5-0.5B-shaped policy with tied embeddings: full
   fine-tuning and LoRA (reference = adapter disabled; DPO loss log 2 at the start; the adapter merged and saved
   as a full HF checkpoint that reloads with the same outputs), and FSDP on one rank (the full state dict gathered);
2. the ``hf`` rollout sampler (rayrlhf.rollout.hf_sampler.HFSampler) in bfloat16;
3. the reward models: the built-in judge LM as an ``lm_logprob`` source and a sequence-classification RM.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

RESULTS: list[dict] = []
DEVICE = torch.device("cuda")


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def report(name: str, **values) -> None:
    RESULTS.append({"check": name, **values})
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"[gpu_check] {name}: {shown}", flush=True)


def config(**sections):
    from rayrlhf.config import Config

    base = {"train": {"use_gpu": True, "num_workers": 1},
            "optim": {"batch_size": 16, "micro_batch_size": 8, "epochs": 1, "warmup_steps": 0.1, "lr": 1e-5}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return Config.model_validate(base)


def pairs(rows: list[dict], n: int):
    from rayrlhf.core.records import PreferencePair

    return [PreferencePair(r["prompt"], " " + r["reference"], " " + r["reference"].split(",")[0] + ".", "")
            for r in (rows * (n // len(rows) + 1))[:n]]


def qwen_shaped(tok, path: Path) -> str:
    """A random Qwen2.5-0.5B-shaped causal LM (24 layers, hidden 896, tied embeddings) over the task's vocabulary."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                      num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).to(torch.bfloat16).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def learner_check(name: str, model_dir: str, data, **sections) -> None:
    from rayrlhf.learner.policy import TrainablePolicy
    from rayrlhf.learner.step import make_optimizer, pair_loss, train_epochs

    cfg = config(**sections)
    policy = TrainablePolicy(cfg, model_dir, model_dir, DEVICE)
    model, reference = policy.begin_iteration(model_dir)
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        loss0, _ = pair_loss(model, reference, policy.tokenizer, data[:8], cfg.optim)
    optimizer = make_optimizer(model, cfg.optim)
    sync()
    t0 = time.perf_counter()
    stats = train_epochs(model, reference, policy.tokenizer, optimizer, data, cfg.optim, seed=0)
    sync()
    seconds = time.perf_counter() - t0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    policy.end_iteration()
    with tempfile.TemporaryDirectory() as out:
        policy.save(Path(out), policy.state_dict())
        reloaded = reload_matches(policy, Path(out), data[:4])
    report(name, dtype=str(dtype).removeprefix("torch."), loss_at_start=loss0.item(), log2=math.log(2),
           steps=stats["steps"], loss=stats["loss"], tokens_per_s=stats["tokens_per_s"], seconds=seconds,
           trainable_params=trainable, checkpoint_reloads_equal=reloaded,
           peak_gib=torch.cuda.max_memory_allocated() / 2**30 if DEVICE.type == "cuda" else float("nan"))
    del policy, model, reference, optimizer
    if DEVICE.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def reload_matches(policy, out: Path, data) -> bool:
    """The saved HF checkpoint computes what the trained (merged) model computes."""
    from rayrlhf.learner.policy import load_policy
    from rayrlhf.learner.step import batch_logps, encode

    again = load_policy(str(out), policy.dtype).to(DEVICE).eval()
    enc = encode(policy.tokenizer, policy.base, [d.prompt for d in data], [d.chosen for d in data])
    with torch.no_grad():
        a, = batch_logps(policy.base.eval(), enc, "sum")
        b, = batch_logps(again, enc, "sum")
    return bool(torch.allclose(a, b, atol=1e-2 * max(1.0, a.abs().max().item())))


def fsdp_check(model_dir: str, data) -> None:
    """FSDP on one rank: wrap, train a step, gather the full state dict, save; compare with the loaded weights."""
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    from rayrlhf.learner.policy import TrainablePolicy
    from rayrlhf.learner.step import make_optimizer, train_epochs

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    dist.init_process_group("nccl" if DEVICE.type == "cuda" else "gloo", rank=0, world_size=1)
    try:
        cfg = config(train={"strategy": "fsdp"})
        device_id = torch.cuda.current_device() if DEVICE.type == "cuda" else None
        policy = TrainablePolicy(cfg, model_dir, model_dir, DEVICE, prepare=lambda m: FSDP(m, device_id=device_id))
        model, reference = policy.begin_iteration(model_dir)
        stats = train_epochs(model, reference, policy.tokenizer, make_optimizer(model, cfg.optim), data, cfg.optim, seed=0)
        state = policy.state_dict()
        with tempfile.TemporaryDirectory() as out:
            policy.save(Path(out), state)
            saved = sorted(p.name for p in Path(out).iterdir())
        report("learner fsdp (1 rank, built-in policy)", steps=stats["steps"], loss=stats["loss"],
               tokens_per_s=stats["tokens_per_s"], gathered_tensors=len(state), files=",".join(saved))
    finally:
        dist.destroy_process_group()


def sampler_check(name: str, model_dir: str, prompts: list[str]) -> None:
    from rayrlhf.rollout.hf_sampler import HFSampler

    sampler = HFSampler(model_dir, device=str(DEVICE), dtype=torch.bfloat16)
    sampler.sample(prompts[:4], n=2, max_new_tokens=8)  # warm-up
    sync()
    t0 = time.perf_counter()
    rows = sampler.sample(prompts, n=4, max_new_tokens=40, temperature=1.0)
    sync()
    seconds = time.perf_counter() - t0
    tokens = sum(len(s.token_ids) for row in rows for s in row)
    report(name, samples=sum(len(r) for r in rows), new_tokens=tokens, tokens_per_s=tokens / seconds,
           finite_logprobs=all(math.isfinite(s.logprob) for row in rows for s in row))


def reward_check(task_dir: Path, rows: list[dict]) -> None:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from rayrlhf.config import SourceConfig
    from rayrlhf.rewards.models import ClassifierReward, LmLogprobReward

    prompts = [r["prompt"] for r in rows]
    responses = [" " + r["reference"] for r in rows]
    gpus = 1 if DEVICE.type == "cuda" else 0
    judge = LmLogprobReward(SourceConfig(name="judge_lm", kind="lm_logprob", model="x", num_gpus=gpus, dtype="bfloat16"),
                            str(task_dir / "judge_lm"))
    cpu = LmLogprobReward(SourceConfig(name="judge_cpu", kind="lm_logprob", model="x", dtype="float32"), str(task_dir / "judge_lm"))
    timed(judge, "reward lm_logprob (judge LM, bf16)", prompts, responses,
          cpu_agreement=float(torch.corrcoef(torch.tensor([judge.score(prompts[:64], responses[:64]),
                                                           cpu.score(prompts[:64], responses[:64])]))[0, 1]))
    tok = AutoTokenizer.from_pretrained(task_dir / "policy")
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=512, intermediate_size=1408, num_hidden_layers=8, num_attention_heads=8,
                      num_key_value_heads=8, num_labels=1, pad_token_id=tok.pad_token_id)
    with tempfile.TemporaryDirectory() as rm:
        torch.manual_seed(0)
        LlamaForSequenceClassification(cfg).save_pretrained(rm)
        tok.save_pretrained(rm)
        classifier = ClassifierReward(SourceConfig(name="rm", kind="classifier", model="x", num_gpus=gpus, dtype="bfloat16"), rm)
        timed(classifier, "reward classifier (8-layer random RM, bf16)", prompts, responses)


def timed(source, name: str, prompts, responses, **extra) -> None:
    source.score(prompts[:8], responses[:8])
    sync()
    t0 = time.perf_counter()
    scores = source.score(prompts, responses)
    sync()
    seconds = time.perf_counter() - t0
    report(name, device=str(source._lm.device if hasattr(source, "_lm") else source.device), pairs=len(scores),
           pairs_per_s=len(scores) / seconds, finite=all(math.isfinite(s) for s in scores), **extra)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--cpu", action="store_true", help="a dry run of the small checks on CPU (to debug the script)")
    args = ap.parse_args()
    global DEVICE
    if args.cpu:
        DEVICE = torch.device("cpu")
    elif not torch.cuda.is_available():
        print("[gpu_check] no CUDA device: nothing to check (--cpu runs the small checks on CPU)", flush=True)
        return 2
    from transformers import AutoTokenizer

    if DEVICE.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        report("device", gpu=props.name, memory_gib=props.total_memory / 2**30, bf16=torch.cuda.is_bf16_supported(),
               torch=torch.__version__)
    else:
        report("device", gpu="none (cpu)", torch=torch.__version__)
    rows = json.loads((args.task_dir / "prompts.json").read_text())
    data = pairs(rows, 256)
    policy_dir = str(args.task_dir / "policy")
    checks = [
        ("learner full bf16 (built-in policy)", lambda: learner_check("learner full bf16 (built-in policy)", policy_dir, data)),
        ("learner lora bf16 (built-in policy)", lambda: learner_check(
            "learner lora bf16 (built-in policy)", policy_dir, data, policy={"lora": {"r": 8}})),
        ("fsdp", lambda: fsdp_check(policy_dir, data)),
        ("sampler", lambda: sampler_check("hf sampler bf16 (built-in policy)", policy_dir, [r["prompt"] for r in rows[:128]])),
        ("rewards", lambda: reward_check(args.task_dir, rows)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        big = "" if args.cpu else qwen_shaped(AutoTokenizer.from_pretrained(policy_dir), Path(tmp) / "qwen_shaped")
        checks += [] if args.cpu else [
            ("learner full bf16 (0.5B-shaped, tied)", lambda: learner_check(
                "learner full bf16 (0.5B-shaped, tied)", big, data[:128], train={"gradient_checkpointing": True})),
            ("learner lora bf16 (0.5B-shaped, tied)", lambda: learner_check(
                "learner lora bf16 (0.5B-shaped, tied)", big, data[:128], policy={"lora": {"r": 16}})),
            ("sampler big", lambda: sampler_check("hf sampler bf16 (0.5B-shaped)", big, [r["prompt"] for r in rows[:64]])),
        ]
        failed = 0
        for name, run in checks:
            try:
                run()
            except Exception as exc:  # report every check, then fail
                failed += 1
                report(name, error=f"{type(exc).__name__}: {exc}"[:500])
    if args.out:
        args.out.write_text(json.dumps(RESULTS, indent=1))
    print(f"[gpu_check] {len(RESULTS) - failed - 1} checks passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
