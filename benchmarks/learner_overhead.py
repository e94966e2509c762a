"""Learner overhead: a new ``TorchTrainer.fit()`` per iteration vs rayrlhf's persistent workers.

    python benchmarks/learner_overhead.py [--iterations 3] [--pairs 256]

Both train the built-in task's policy on the same preference pairs with the quickstart's optimiser settings,
side by side in one run, and print seconds per iteration and the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ray

from rayrlhf.config import load_config
from rayrlhf.learner.ray_learner import Learner
from rayrlhf.task.build import build_task

REPO = Path(__file__).resolve().parents[1]


def _fit_once(loop_config: dict) -> None:
    """One iteration as its own Ray Train run: start workers, init the process group, load, train, save."""
    import ray.train
    import ray.train.torch
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rayrlhf.config import OptimConfig
    from rayrlhf.core.records import PreferencePair
    from rayrlhf.learner.step import train_epochs

    ctx = ray.train.get_context()
    optim = OptimConfig.model_validate(loop_config["optim"])
    tok = AutoTokenizer.from_pretrained(loop_config["model_dir"])
    model = ray.train.torch.prepare_model(AutoModelForCausalLM.from_pretrained(loop_config["model_dir"]))
    core = model.module if hasattr(model, "module") else model
    ref = AutoModelForCausalLM.from_pretrained(loop_config["model_dir"]).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=optim.lr)
    pairs = loop_config["pairs"][ctx.get_world_rank() :: ctx.get_world_size()]
    train_epochs(model, ref, tok, opt, [PreferencePair.from_json(p) for p in pairs], optim, seed=0,
                 num_workers=ctx.get_world_size())
    if ctx.get_world_rank() == 0:
        core.save_pretrained(loop_config["out"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=256)
    args = ap.parse_args()
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    cfg = load_config(REPO / "examples" / "quickstart.yaml")
    task = build_task(cfg.task)
    rows = task.split("train").select(range(args.pairs))
    pairs = [{"prompt": p, "chosen": " " + r, "rejected": " " + r.split(",")[0] + ".", "explore": ""}
             for p, r in zip(rows["prompt"], rows["reference"], strict=True)]
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    tmp = Path(tempfile.mkdtemp())
    fresh = []
    for i in range(args.iterations):
        t0 = time.perf_counter()
        TorchTrainer(
            _fit_once,
            train_loop_config={"optim": cfg.optim.model_dump(), "model_dir": str(task.policy_dir), "pairs": pairs,
                               "out": str(tmp / f"fresh{i}")},
            scaling_config=ScalingConfig(num_workers=cfg.train.num_workers, resources_per_worker={"CPU": 1}),
            run_config=RunConfig(name=f"fresh{i}", storage_path=str(tmp / "store")),
        ).fit()
        fresh.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    learner = Learner(cfg, str(task.policy_dir), str(task.policy_dir), tmp / "persistent")
    kept = []
    for i in range(args.iterations):
        t = time.perf_counter()
        learner.train(pairs, tmp / f"kept{i}", i, cfg.optim)
        kept.append(time.perf_counter() - (t0 if i == 0 else t))  # the first call carries the start-up
    learner.close()
    print(f"new fit per iteration : {' '.join(f'{s:.1f}s' for s in fresh)}  total {sum(fresh):.1f}s")
    print(f"persistent workers    : {' '.join(f'{s:.1f}s' for s in kept)}  total {sum(kept):.1f}s")
    steady = sum(kept[1:]) / max(1, len(kept) - 1)
    print(f"fixed overhead per fit ~ {sum(fresh) / len(fresh) - steady:.1f}s; "
          f"total ratio fresh/persistent = {sum(fresh) / sum(kept):.2f}")


if __name__ == "__main__":
    main()
