"""Benchmark 5: what a user would pick instead: TRL's ``OnlineDPOTrainer`` (``trl.experimental.online_dpo`` in TRL
1.x) on the same tiny policy, with the same oracle (the built-in gold reward ``r*``) as its judge and the same number
of labelled pairs as rayrlhf's run: wall time and held-out oracle score side by side.

Online DPO draws 2 completions per prompt and labels them with its reward functions, so ``P`` prompts make ``P``
labelled pairs; the oracle is passed as a reward function (TRL 1.x removed the ``judge`` argument; a pairwise
judge of two completions by ``r*`` is the same comparison). The held-out score of both policies comes from one
evaluator (:mod:`benchmarks.heldout`). TRL is a benchmark-only dependency (``pip install -e .[bench]``).

    python -m benchmarks.trl_online_dpo --config C --pairs P --out OUT.json [--rayrlhf-checkpoint DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.common import Section, log, python_module, ratio, run_logged


def train_online_dpo(cfg, pairs: int, out_dir: Path) -> dict:
    """TRL online DPO over ``pairs`` training prompts; the model saved in ``out_dir``."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer

    from benchmarks.heldout import oracle_source
    from rayrlhf.data.prompts import load_splits
    from rayrlhf.task.build import resolve_model

    t0 = time.perf_counter()
    policy_dir = resolve_model(cfg.policy.model, cfg.task)
    rows, _ = load_splits(cfg, log=lambda m: None)
    rows = (rows * (pairs // len(rows) + 1))[:pairs]
    oracle = oracle_source(cfg)
    calls = {"scored": 0}

    def oracle_reward(prompts, completions, reference, **_):
        calls["scored"] += len(completions)
        return oracle.score(list(prompts), list(completions), list(reference))

    tokenizer = AutoTokenizer.from_pretrained(cfg.policy.tokenizer or policy_dir)
    model = AutoModelForCausalLM.from_pretrained(policy_dir, dtype=torch.float32)
    o = cfg.optim
    args = OnlineDPOConfig(
        output_dir=str(out_dir / "trainer"), per_device_train_batch_size=o.micro_batch_size,
        gradient_accumulation_steps=max(1, o.batch_size // o.micro_batch_size), num_train_epochs=1, learning_rate=o.lr,
        beta=o.beta, max_new_tokens=cfg.rollout.max_new_tokens, temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
        lr_scheduler_type="cosine" if o.lr_schedule == "cosine" else "constant_with_warmup", warmup_steps=0,
        seed=cfg.run.seed, use_cpu=True, report_to=[], save_strategy="no", logging_steps=10, disable_tqdm=True,
        dataloader_num_workers=0, missing_eos_penalty=None, use_vllm=False)
    dataset = datasets.Dataset.from_list([{"prompt": r["prompt"], "reference": r["reference"]} for r in rows])
    trainer = OnlineDPOTrainer(model=model, reward_funcs=[oracle_reward], args=args, train_dataset=dataset,
                               processing_class=tokenizer)
    setup_s = time.perf_counter() - t0
    trainer.train()
    trainer.save_model(str(out_dir / "model"))
    tokenizer.save_pretrained(str(out_dir / "model"))
    return {"wall_s": time.perf_counter() - t0, "setup_s": setup_s, "pairs": len(rows), "oracle_scores": calls["scored"],
            "steps": trainer.state.global_step}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--pairs", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rayrlhf-checkpoint", help="also evaluate this policy with the same evaluator")
    args = ap.parse_args()
    from benchmarks.heldout import heldout_score, oracle_source
    from rayrlhf.config import load_config
    from rayrlhf.data.prompts import load_splits
    from rayrlhf.task.build import resolve_model

    cfg = load_config(args.config)
    work = args.out.parent / "trl"
    result = {"trl": train_online_dpo(cfg, args.pairs, work)}
    _, eval_rows = load_splits(cfg, log=lambda m: None)
    oracle = oracle_source(cfg)
    models = {"trl": str(work / "model"), "initial": resolve_model(cfg.policy.model, cfg.task)}
    if args.rayrlhf_checkpoint:
        models["rayrlhf"] = args.rayrlhf_checkpoint
    result["heldout"] = {name: heldout_score(cfg, path, eval_rows, seed=1234, oracle=oracle) for name, path in models.items()}
    args.out.write_text(json.dumps(result))


def trl_available() -> str | None:
    """None when TRL's online DPO imports here, else why not."""
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", "import trl; from trl.experimental.online_dpo import OnlineDPOTrainer; "
                            "print(trl.__version__)"], capture_output=True, text=True)
    if probe.returncode == 0:
        return None
    return " ".join(probe.stderr.strip().splitlines()[-1:]) or f"exit {probe.returncode}"


def run(cfg_path: Path, out: Path, pairs: int, rayrlhf_wall_s: float | None, rayrlhf_checkpoint: str | None) -> Section:
    section = Section("trl", "5. TRL OnlineDPOTrainer on the same policy, oracle and number of labels")
    missing = trl_available()
    if missing:
        section.error = f"TRL's OnlineDPOTrainer does not import here ({missing}); install it with `pip install -e .[bench]`"
        log(section.error)
        return section
    log(f"benchmark 5: TRL online DPO on {pairs} labelled pairs")
    cmd = python_module("benchmarks.trl_online_dpo", "--config", str(cfg_path), "--pairs", str(pairs), "--out", str(out / "trl.json"))
    if rayrlhf_checkpoint:
        cmd += ["--rayrlhf-checkpoint", rayrlhf_checkpoint]
    process_s = run_logged(cmd, out / "trl.log").seconds
    res = json.loads((out / "trl.json").read_text())
    held = res["heldout"]
    trl_s = process_s - sum(h["seconds"] for h in held.values())  # the process without the shared evaluation
    section.values = {**res, "process_s": process_s, "trl_wall_s": trl_s, "rayrlhf_wall_s": rayrlhf_wall_s}
    section.ratios = {"wall time, rayrlhf / TRL online DPO": ratio(rayrlhf_wall_s, trl_s)}
    if "rayrlhf" in held:  # r* can be negative: a difference, not a ratio
        section.ratios["held-out r*, rayrlhf minus TRL (a difference)"] = held["rayrlhf"]["oracle_score"] - held["trl"]["oracle_score"]
    section.tables["TRL vs rayrlhf"] = [
        {"policy": name, "heldout_oracle_score": h["oracle_score"], "empty_rate": h["empty_rate"],
         "labelled_pairs": pairs if name != "initial" else 0,
         "wall_s": {"trl": trl_s, "rayrlhf": rayrlhf_wall_s}.get(name)} for name, h in held.items()]
    log(f"TRL: {trl_s:.1f}s, held-out r* {held['trl']['oracle_score']:.3f} (initial {held['initial']['oracle_score']:.3f})")
    section.notes.append("TRL's wall time is its process (imports, model load, training, save) without the shared evaluation; "
                         "rayrlhf's is `rayrlhf train` from benchmark 1 (start-up and its own evaluations included).")
    section.notes.append("The held-out scores here come from one evaluator for every policy (transformers `generate`, the same "
                         "seed); rayrlhf's own eval samples with vLLM, so its r* in benchmark 1 is on a different sample.")
    return section


if __name__ == "__main__":
    main()
