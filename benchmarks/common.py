"""What every benchmark shares: the bench config (quickstart-shaped, or tiny for tests), timing, subprocesses,
memory sampling of the process tree, and the record each benchmark returns.

Absolute times depend on the machine and its load; the benchmarks report them but only ratios are meant to be
compared, and each ratio is measured with both sides in the same run, one after the other.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart.yaml"

# A seconds-scale built-in task and run (the test suite's sizes): for developing and testing the benchmarks.
TINY = ["task.num_train=64", "task.num_eval=24", "task.num_heldout=12", "task.sft_steps=20", "task.judge_lm_steps=10",
        "eval.reward_pairs=24", "train.prompts_per_iteration=16", "transfer.best_of_n=4", "transfer.num_replace=2",
        "transfer.refresh_every=8", "eval.num_prompts=12", "optim.batch_size=8", "optim.micro_batch_size=4",
        "optim.epochs=1", "rollout.max_new_tokens=16"]
# The bench measures stages, not the label model: people (the simulated oracle) label every prompt, and the learner
# runs plain DPO on them (no NLL anchor, no step budget), as when its ratios were first measured.
UNROUTED = ["oracle.route=all", "oracle.labels_per_iteration=null", "transfer.pairs=best_worst", "oracle.burn_in=paced",
            "transfer.credit=people", "optim.nll_weight=0", "optim.max_steps=null"]
TINY += UNROUTED
# The full bench: the quickstart's work (128 prompts, K=4, N=8, 6 sources) over two iterations.
FULL = ["train.iterations=2", *UNROUTED, "train.prompts_per_iteration=128"]


def bench_overrides(scale: str, extra: list[str] | None = None) -> list[str]:
    if scale not in ("tiny", "full"):
        raise ValueError(f"--scale must be 'tiny' or 'full', got {scale!r}")
    return (TINY + ["train.iterations=2"] if scale == "tiny" else FULL) + list(extra or [])


def bench_config(overrides: list[str]):
    from rayrlhf.config import load_config

    return load_config(QUICKSTART, overrides)


def write_config(cfg, path: Path) -> Path:
    """The resolved config as YAML, so that subprocesses (the CLI, the reference stages) read the same one."""
    from rayrlhf.config import dump_config

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_config(cfg))
    return path


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    import platform

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_avg_1m_at_start": load, "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def env_for_children() -> dict:
    """The environment for benchmark subprocesses: this checkout's ``rayrlhf`` and ``benchmarks`` first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


@dataclass
class Timed:
    seconds: float
    returncode: int
    log: Path


def run_logged(cmd: list[str], log: Path, timeout_s: float | None = None) -> Timed:
    """Run ``cmd`` with its output in ``log``; wall seconds and exit code. A failure raises, quoting the log's end."""
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env_for_children(), cwd=REPO, timeout=timeout_s)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode} after {seconds:.0f}s; log {log}:\n{tail}")
    return Timed(seconds, proc.returncode, log)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def tree_memory_gib(pid: int | None = None) -> float:
    """PSS (shared pages split among the processes that map them) summed over ``pid``'s process tree, in GiB."""
    import psutil

    root = psutil.Process(pid or os.getpid())
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            info = p.memory_full_info()
            total += getattr(info, "pss", info.rss)
        except psutil.Error:
            pass
    return total / 2**30


class PeakMemory:
    """Samples :func:`tree_memory_gib` of this process's tree in a thread while the ``with`` block runs."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s, self.peak_gib = every_s, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_gib = max(self.peak_gib, tree_memory_gib())
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_gib = max(self.peak_gib, tree_memory_gib())


@dataclass
class Section:
    """One benchmark's results: ``ratios`` (the numbers to compare), ``values`` (absolute numbers, for reading
    only), ``tables`` (rows for the README) and ``notes`` (what was measured, caveats)."""

    name: str
    title: str
    ratios: dict[str, float | None] = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    tables: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "ratios": self.ratios, "values": self.values, "tables": self.tables,
                "notes": self.notes, "seconds": self.seconds, "error": self.error}


def retried(start, what: str, attempts: int = 3):
    """``start()``, tried again when Ray's node start-up times out (its raylet wait is a fixed 30 s, which a machine
    under heavy load can miss); returns (result, seconds of the successful attempt, attempts used)."""
    for attempt in range(1, attempts + 1):
        t0 = time.perf_counter()
        try:
            return start(), time.perf_counter() - t0, attempt
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts:
                raise
            log(f"{what}: Ray's node start timed out (attempt {attempt}/{attempts}); trying again")
            import ray

            ray.shutdown()


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


@contextlib.contextmanager
def library_workers(cfg, storage: Path):
    """For a benchmark run on its own (``python -m benchmarks.X``): the built-in task built, a local Ray, and the
    library's actors on the initial policy; yields ``(workers, initial model dir)`` and shuts both down after."""
    import ray

    from rayrlhf.run.actor_group import Workers, init_ray
    from rayrlhf.task.build import build_task, resolve_model

    build_task(cfg.task, log=lambda m: None)
    init_dir = resolve_model(cfg.policy.model, cfg.task)
    init_ray(cfg)
    workers = Workers(cfg, init_dir, init_dir, storage)
    try:
        yield workers, init_dir
    finally:
        workers.close()
        ray.shutdown()
