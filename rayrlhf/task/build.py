"""Build (once) and cache the built-in task: splits, the initial policy and the "bigger LM" judge source.

The cache key is a hash of the task config and ``TASK_VERSION``; a build is written to a temporary folder
and renamed into place, so an interrupted build never leaves a half-built cache behind. A cached task
loads in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rayrlhf.config import TaskConfig

TASK_VERSION = 1
SPLITS = ("train", "eval", "heldout")
POLICY_SHAPE = {"hidden": 128, "layers": 2, "vocab": 1024}
JUDGE_SHAPE = {"hidden": 192, "layers": 3, "vocab": 1536}


@dataclass(frozen=True)
class BuiltTask:
    root: Path

    @property
    def policy_dir(self) -> Path:
        return self.root / "policy"

    @property
    def judge_lm_dir(self) -> Path:
        return self.root / "judge_lm"

    def split(self, name: str):
        """The split as a ``datasets.Dataset`` (columns: document, prompt, reference, fact_*)."""
        import datasets

        if name not in SPLITS:
            raise ValueError(f"unknown built-in task split {name!r}; choose one of {SPLITS}")
        return datasets.load_from_disk(str(self.root / "data" / name))

    def info(self) -> dict:
        return json.loads((self.root / "build.json").read_text())


def cache_dir(cfg: TaskConfig) -> Path:
    return Path(cfg.cache_dir or os.environ.get("RAYRLHF_CACHE") or Path.home() / ".cache" / "rayrlhf")


def task_key(cfg: TaskConfig) -> str:
    spec = {"version": TASK_VERSION, **cfg.model_dump(exclude={"cache_dir"}), "policy": POLICY_SHAPE, "judge": JUDGE_SHAPE}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_task(cfg: TaskConfig, force: bool = False, log=print) -> BuiltTask:
    """Return the cached task for ``cfg``, building it first if needed (a few minutes on 2 cores)."""
    root = cache_dir(cfg) / f"task-{task_key(cfg)}"
    if (root / "build.json").is_file() and not force:
        return BuiltTask(root)
    tmp = root.parent / f"{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        info = _build_into(cfg, tmp, log)
        (tmp / "build.json").write_text(json.dumps(info, indent=2))
        if force:
            shutil.rmtree(root, ignore_errors=True)
        try:
            os.replace(tmp, root)
        except OSError:  # another process finished the same build first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuiltTask(root)


def _build_into(cfg: TaskConfig, out: Path, log) -> dict:
    import datasets
    import torch

    from rayrlhf.task.corrupt import noisy_summary
    from rayrlhf.task.lm import new_llama, save_hf, supervised_finetune, train_tokenizer
    from rayrlhf.task.world import SUMMARY_TEMPLATES, facts_of, make_split

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    sizes = {"train": cfg.num_train, "eval": cfg.num_eval, "heldout": cfg.num_heldout}
    splits = {name: make_split(cfg.seed * 1000 + i, sizes[name]) for i, name in enumerate(SPLITS)}
    sft_rows = make_split(cfg.seed * 1000 + 7, cfg.num_train)  # SFT documents are disjoint from RL prompts
    for name, rows in splits.items():
        datasets.Dataset.from_list(rows).save_to_disk(str(out / "data" / name))
    timings["data_s"] = time.perf_counter() - t0

    corpus = [r["prompt"] + " " + r["reference"] for r in sft_rows]
    rng = random.Random(cfg.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    t = time.perf_counter()
    log(f"[task] training the initial policy ({cfg.sft_steps} SFT steps on noisy summaries)")
    tok = train_tokenizer(corpus, POLICY_SHAPE["vocab"])
    policy = new_llama(tok, POLICY_SHAPE["hidden"], POLICY_SHAPE["layers"], seed=cfg.seed)
    noisy = [(r["prompt"], " " + noisy_summary(rng, facts_of(r), r["document"])) for r in sft_rows]
    policy_losses = supervised_finetune(policy, tok, noisy, cfg.sft_steps, seed=cfg.seed, desc="task: policy SFT")
    save_hf(policy, tok, out / "policy")
    timings["policy_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log(f"[task] training the judge LM source ({cfg.judge_lm_steps} steps on clean summaries)")
    jtok = train_tokenizer(corpus, JUDGE_SHAPE["vocab"])
    judge = new_llama(jtok, JUDGE_SHAPE["hidden"], JUDGE_SHAPE["layers"], seed=cfg.seed + 1)
    clean = [(r["prompt"], " " + rng.choice(SUMMARY_TEMPLATES).format(**facts_of(r).__dict__)) for r in sft_rows]
    judge_losses = supervised_finetune(judge, jtok, clean, cfg.judge_lm_steps, seed=cfg.seed + 1, desc="task: judge LM")
    save_hf(judge, jtok, out / "judge_lm")
    timings["judge_lm_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0

    def tail(losses: list[float]) -> float | None:
        return sum(losses[-20:]) / len(losses[-20:]) if losses else None

    return {
        "key": out.name.split(".tmp")[0], "config": cfg.model_dump(), "timings": timings,
        "policy": {**POLICY_SHAPE, "params": sum(p.numel() for p in policy.parameters()), "final_loss": tail(policy_losses)},
        "judge_lm": {**JUDGE_SHAPE, "params": sum(p.numel() for p in judge.parameters()), "final_loss": tail(judge_losses)},
    }


def resolve_model(name: str | None, cfg: TaskConfig) -> str | None:
    """Map ``builtin:policy`` / ``builtin:judge_lm`` (and ``builtin`` = the policy) to their cached
    directories, building the task if needed; any other name is returned unchanged."""
    if name is None or not name.startswith("builtin"):
        return name
    task = build_task(cfg)
    targets = {"builtin": task.policy_dir, "builtin:policy": task.policy_dir, "builtin:judge_lm": task.judge_lm_dir}
    if name not in targets:
        raise ValueError(f"unknown built-in model {name!r}; choose one of {sorted(targets)}")
    return str(targets[name])
