"""Build (once) and cache the built-in task: splits, the initial policy and the "bigger LM" judge source.

The cache key is a hash of the task config and ``TASK_VERSION``; a build is written to a temporary folder
and renamed into place, so an interrupted build never leaves a half-built cache behind. A cached task
loads in well under a second. The build runs on a fixed thread count with deterministic algorithms, in a process on
a pinned instruction path (:mod:`rayrlhf.task.pinned`), so machines with other core counts or CPUs build the same
world; ``build.json`` records its checksum and the path it ran on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rayrlhf.config import TaskConfig
from rayrlhf.core.durable import write_text_atomic
from rayrlhf.task.pinned import build_in_pinned_process, cpu_capability, pinned_here
from rayrlhf.task.worlds import SPLITS, WORLD_VERSIONS

TASK_VERSION = 1
BUILD_THREADS = 2  # fixed, so a build is the same on any core count
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
        """The split as a ``datasets.Dataset`` (columns: prompt, reference and the world's own: document and fact_*
        for summaries, topic and constraints for instructions)."""
        import datasets

        if name not in SPLITS:
            raise ValueError(f"unknown built-in task split {name!r}; choose one of {SPLITS}")
        return datasets.load_from_disk(str(self.root / "data" / name))

    def info(self) -> dict:
        return json.loads((self.root / "build.json").read_text())

    def checksum(self) -> str:
        """The build's :func:`task_checksum`, from ``build.json`` (a cache built before checksums were recorded
        gets it computed and written there now)."""
        info = self.info()
        if "checksum" not in info:
            info["checksum"] = task_checksum(self.root)
            write_text_atomic(self.root / "build.json", json.dumps(info, indent=2))
        return info["checksum"]


def cache_dir(cfg: TaskConfig) -> Path:
    return Path(cfg.cache_dir or os.environ.get("RAYRLHF_CACHE") or Path.home() / ".cache" / "rayrlhf")


def task_key(cfg: TaskConfig) -> str:
    spec = {"version": TASK_VERSION, **cfg.model_dump(exclude={"cache_dir", "name"}), "policy": POLICY_SHAPE,
            "judge": JUDGE_SHAPE}
    if cfg.name != "summaries":  # the first world keeps the keys it had before there were two
        spec |= {"name": cfg.name, "world_version": WORLD_VERSIONS[cfg.name]}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def build_task(cfg: TaskConfig, force: bool = False, log=print) -> BuiltTask:
    """Return the cached task for ``cfg``, building it first if needed (a few minutes on 2 cores)."""
    root = cache_dir(cfg) / f"task-{task_key(cfg)}"
    if (root / "build.json").is_file() and not force:
        return BuiltTask(root)
    if not pinned_here():
        build_in_pinned_process(cfg.model_dump_json(), force, log)
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

    from rayrlhf.task.lm import new_llama, save_hf, supervised_finetune, train_tokenizer
    from rayrlhf.task.worlds import WORLDS

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    world = WORLDS[cfg.name](cfg)
    for name, rows in world.splits.items():
        datasets.Dataset.from_list(rows).save_to_disk(str(out / "data" / name))
    timings["data_s"] = time.perf_counter() - t0

    with deterministic_torch(BUILD_THREADS):
        t = time.perf_counter()
        log(f"[task] training the initial policy ({cfg.sft_steps} SFT steps on {world.policy_data})")
        tok = train_tokenizer(world.corpus, POLICY_SHAPE["vocab"])
        policy = new_llama(tok, POLICY_SHAPE["hidden"], POLICY_SHAPE["layers"], seed=cfg.seed)
        policy_losses = supervised_finetune(policy, tok, world.policy_examples, cfg.sft_steps, seed=cfg.seed,
                                            desc="task: policy SFT")
        save_hf(policy, tok, out / "policy")
        timings["policy_s"] = time.perf_counter() - t

        t = time.perf_counter()
        log(f"[task] training the judge LM source ({cfg.judge_lm_steps} steps on {world.judge_data})")
        jtok = train_tokenizer(world.corpus, JUDGE_SHAPE["vocab"])
        judge = new_llama(jtok, JUDGE_SHAPE["hidden"], JUDGE_SHAPE["layers"], seed=cfg.seed + 1)
        judge_losses = supervised_finetune(judge, jtok, world.judge_examples, cfg.judge_lm_steps, seed=cfg.seed + 1,
                                           desc="task: judge LM")
        save_hf(judge, jtok, out / "judge_lm")
        timings["judge_lm_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0

    def tail(losses: list[float]) -> float | None:
        return sum(losses[-20:]) / len(losses[-20:]) if losses else None

    return {
        "key": out.name.split(".tmp")[0], "config": cfg.model_dump(), "timings": timings,
        "build_threads": BUILD_THREADS, "cpu_capability": cpu_capability(), "checksum": task_checksum(out),
        "policy": {**POLICY_SHAPE, "params": sum(p.numel() for p in policy.parameters()), "final_loss": tail(policy_losses)},
        "judge_lm": {**JUDGE_SHAPE, "params": sum(p.numel() for p in judge.parameters()), "final_loss": tail(judge_losses)},
    }


@contextmanager
def deterministic_torch(threads: int):
    """Torch on ``threads`` intra-op threads with deterministic algorithms, restored afterwards: the same build on
    any machine whatever its core count (the reduction order of a matrix product depends on the thread count)."""
    import torch

    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


def task_checksum(root: Path) -> str:
    """A SHA-256 over what a run sees of a built task: each split's rows, and each model's weights and tokenizer."""
    import datasets

    digest = hashlib.sha256()
    for name in SPLITS:
        rows = datasets.load_from_disk(str(root / "data" / name)).to_list()
        digest.update(json.dumps(rows, sort_keys=True).encode())
    for model in ("policy", "judge_lm"):
        for file in ("model.safetensors", "tokenizer.json"):
            digest.update((root / model / file).read_bytes())
    return digest.hexdigest()


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


def record_world(cfg, run_root: Path) -> None:
    """``RUN_DIR/task.json``: which built-in world a run trains in (its name, cache key and checksum); nothing for a
    run on a dataset of its own."""
    if cfg.data.dataset != "builtin":
        return
    task = build_task(cfg.task)
    record = {"name": cfg.task.name, "seed": cfg.task.seed, "key": task.root.name, "checksum": task.checksum()}
    write_text_atomic(run_root / "task.json", json.dumps(record, indent=1))
