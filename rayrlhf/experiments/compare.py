"""``rayrlhf compare``: every method for every seed, with the same label budget, then the report.

Methods are ``transfer.mode`` values (``ucb``, ``none``, ``fixed:<source>``), optionally at a multiple of the
labels (``none@2``: twice the prompts, so twice the oracle labels, per iteration; the report's "labels to match"
table). Runs share what can be shared:
the built task, the initial policy's evaluation samples, and sets of workers (the vLLM engine, the reward and
oracle actors, the learner's Ray Train workers), each set reset to the initial policy between the runs it
serves. As many sets run at once as the cluster's CPUs fit (``--max-concurrent`` overrides); each set reserves
its own placement group, so runs never oversubscribe the cluster. On one machine that is one run at a time.

``compare.json`` is written when the comparison starts and after every run; ``rayrlhf compare --resume DIR``
continues a comparison that stopped (:func:`resume_compare`).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rayrlhf.config import Config, ConfigError, dump_config
from rayrlhf.core import logs
from rayrlhf.experiments.methods import method_config, method_dir
from rayrlhf.experiments.provenance import settings_differing


def _prepare(cfg: Config, methods: list[str], seeds: int, root: Path, log) -> tuple[dict[str, Config], dict]:
    """Check everything, then make the comparison's directory: config, metadata and (built-in task) source quality."""
    from rayrlhf.run.preflight import preflight
    from rayrlhf.run.tracking import enabled

    enabled(cfg.tracking)  # a missing tracker package fails before anything is written
    if (root / "compare.json").exists():
        raise ConfigError(f"{root} already holds a comparison: continue it with `rayrlhf compare --resume {root}`, "
                          "or choose another run.output_dir")
    configs = {m: method_config(cfg, m) for m in methods}
    preflight(cfg, root)  # trackers, data, models: bad input leaves no directory behind
    root.mkdir(parents=True, exist_ok=True)
    _lock(root)
    (root / "config.yaml").write_text(dump_config(cfg))
    meta = {"methods": methods, "seeds": list(range(cfg.run.seed, cfg.run.seed + seeds)), "runs": {}, "started": time.time()}
    _save(root, meta)  # from now on `rayrlhf compare --resume` continues it
    _source_quality(cfg, root, log)
    return configs, meta


def _source_quality(cfg: Config, root: Path, log) -> None:
    """``source_quality.json``: each source's agreement with the built-in task's oracle (built-in task only)."""
    if cfg.data.dataset == "builtin" and cfg.policy.model == "builtin" and not (root / "source_quality.json").is_file():
        from rayrlhf.rewards.evaluate import evaluate_sources, task_pairs

        pairs, info = task_pairs(cfg, log)
        quality = {"sample": info, "sources": evaluate_sources(cfg, pairs, log)}
        (root / "source_quality.json").write_text(json.dumps(quality, indent=1))


class _Runs:
    """(seed, method) runs served from one queue by sets of shared workers; the first run also makes the initial
    policy's evaluation samples, which every other run reuses. A failure stops the other sets after their run."""

    def __init__(self, cfg: Config, configs: dict[str, Config], root: Path, init_dir: str, meta: dict, log) -> None:
        self.cfg, self.configs, self.root, self.init_dir, self.meta, self.log = cfg, configs, root, init_dir, meta, log
        self.lock, self.failed, self.pending = threading.Lock(), threading.Event(), queue.SimpleQueue()

    def start(self, workers, seed: int, m: str, fresh: bool, eval_init: dict | None):
        """The run of method ``m`` at ``seed`` on ``workers``: a new one, or one a stopped compare had begun,
        resumed from its last checkpoint (its ledger answers what was paid for, so nothing is paid twice)."""
        from rayrlhf.core.run_dir import RunDir
        from rayrlhf.run.entry import new_run_dir
        from rayrlhf.run.loop import Pipeline

        run_cfg = self.configs[m].model_copy(update={"run": self.cfg.run.model_copy(update={"seed": seed})})
        rel = f"{method_dir(m)}/seed_{seed}"
        started, begun = time.time(), (self.root / rel / "config.yaml").is_file()
        run = RunDir(self.root / rel) if begun else new_run_dir(run_cfg, self.root / rel)
        if begun:
            run.lock()
        latest = run.latest() if begun else None
        if latest:
            workers.reset(str(latest[0]), str(latest[0] / "optimizer.pt"))
        elif not fresh:
            workers.reset(self.init_dir)
        done = run.resume_point() if begun else 0
        pipe = Pipeline(run_cfg, run, resume=begun, workers=workers, eval_init=eval_init)
        return pipe, rel, started, done if begun else None

    def finish(self, pipe, rel: str, started: float, resumed: int | None, seed: int, m: str) -> None:
        from rayrlhf.run.entry import run_iterations

        self.log(f"[compare] {m} seed {seed}" + (f" (resumed after iteration {resumed})" if resumed is not None else ""))
        nodes = pipe.workers.placement.node_ids()
        try:
            run_iterations(pipe, resumed or 0, self.log, experiment_root=self.root)
        finally:
            pipe.close()  # the run's coordinator; the shared workers stay
            pipe.run.unlock()
        with self.lock:
            self.meta["runs"][rel] = {"method": m, "seed": seed, "wall_s": time.time() - started, "start": started,
                                      "end": time.time(), "nodes": nodes,
                                      **({"resumed_after": resumed} if resumed is not None else {})}
            _save(self.root, self.meta)

    def serve(self, workers, first, eval_init: dict) -> None:
        """Runs from the queue on one set of ``workers``, after ``first`` (the run it already started) if any."""
        fresh = first is None  # workers that have served no run start at the initial policy
        try:
            if first is not None:
                self.finish(*first)
            while not self.failed.is_set():
                try:
                    seed, m = self.pending.get_nowait()
                except queue.Empty:
                    return
                self.finish(*self.start(workers, seed, m, fresh, eval_init), seed, m)
                fresh = False
        except BaseException:
            self.failed.set()
            raise

    def run_all(self, sets: list, runs: list[tuple[int, str]], eval_init: dict | None = None) -> None:
        """Every run of ``runs``; the first makes the initial policy's evaluation samples unless ``eval_init``
        holds them (a resumed compare)."""
        first = None
        if eval_init is None:
            started = self.start(sets[0], *runs[0], fresh=True, eval_init=None)  # makes the initial policy's samples
            first, eval_init, runs = (*started, *runs[0]), started[0].eval_init, runs[1:]
        for run in runs:
            self.pending.put(run)
        with ThreadPoolExecutor(len(sets)) as pool:
            futures = [pool.submit(self.serve, w, first if i == 0 else None, eval_init) for i, w in enumerate(sets)]
            for future in futures:
                future.result()


def run_compare(cfg: Config, methods: list[str], seeds: int, out_dir: str | None = None, log=print,
                max_concurrent: int | None = None) -> Path:
    """A new comparison in ``out_dir`` (``run.output_dir``): every method at every seed, then the report."""
    root = Path(out_dir or cfg.run.output_dir)
    configs, meta = _prepare(cfg, methods, seeds, root, log)
    return _execute(cfg, configs, meta, root, [(seed, m) for seed in meta["seeds"] for m in methods], None, log,
                    max_concurrent)


def resume_compare(root: str | Path, log=print, max_concurrent: int | None = None) -> Path:
    """Continue the comparison in ``root`` that stopped (killed, a fault, the machine gone): finished runs are kept
    as they are, a run that had begun resumes from its last checkpoint (its paid labels answered from its ledger),
    the others start; the report says which runs were resumed."""
    from rayrlhf.config import load_config

    root = Path(root)
    meta_path = root / "compare.json"
    if not meta_path.is_file() or not (root / "config.yaml").is_file():
        raise ConfigError(f"--resume {root}: no compare.json and config.yaml there; is it a `rayrlhf compare` directory?")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--resume {root}: compare.json is damaged ({exc}); its runs' directories are intact, but "
                          "which of them finished is lost: start a new comparison") from None
    if meta.get("joined"):
        raise ConfigError(f"--resume {root}: a joined report (`rayrlhf report --into`), not a comparison; resume each "
                          "comparison it joins")
    _lock(root)
    cfg = load_config(root / "config.yaml")
    configs = {m: method_config(cfg, m) for m in meta["methods"]}
    _source_quality(cfg, root, log)
    finished = {(info["method"], info["seed"]) for info in meta["runs"].values()}
    runs = [(seed, m) for seed in meta["seeds"] for m in meta["methods"] if (m, seed) not in finished]
    meta.setdefault("resumed", []).append({"time": time.time(), "finished_before": len(finished)})
    if not runs:
        log(f"[compare] {root}: every run had finished; writing the report")
    return _execute(cfg, configs, meta, root, runs, _saved_eval_init(root, meta, configs), log, max_concurrent)


def _saved_eval_init(root: Path, meta: dict, configs: dict[str, Config]) -> dict | None:
    """The initial policy's held-out samples as a run of this comparison saved them (``eval/iter_0.json``), or None."""
    for seed in meta["seeds"]:
        for m in configs:
            path = root / method_dir(m) / f"seed_{seed}" / "eval" / "iter_0.json"
            if path.is_file():
                return json.loads(path.read_text())
    return None


def _execute(cfg: Config, configs: dict[str, Config], meta: dict, root: Path, runs: list[tuple[int, str]],
             eval_init: dict | None, log, max_concurrent: int | None) -> Path:
    from rayrlhf.experiments.report import write_report
    from rayrlhf.run.actor_group import Workers, init_ray, runs_that_fit
    from rayrlhf.task.build import resolve_model

    init_dir, session_start = resolve_model(cfg.policy.model, cfg.task), time.time()
    if not logs.verbose():
        log(f"[compare] third-party and actor logs: {root / 'logs'} (--verbose shows them here)")
    sets: list[Workers] = []
    if runs:
        with logs.run_logs(root / "logs"):
            init_ray(cfg, runs=min(len(runs), max_concurrent or 1))
            n = meta["concurrent_runs"] = min(len(runs), max_concurrent or runs_that_fit(cfg))
            log(f"[compare] {len(runs)} runs, {n} at a time")
            try:
                for i in range(n):  # each set waits for its placement group and names any missing resource
                    sets.append(Workers(cfg, init_dir, init_dir, root / f"ray_train_{i}" if i else root / "ray_train"))
                _Runs(cfg, configs, root, init_dir, meta, log).run_all(sets, runs, eval_init)
            finally:
                for workers in sets:
                    workers.close()
    meta["startup_s"] = meta.get("startup_s", 0.0) + sum(w.startup_s for w in sets)
    meta["sessions"] = [*meta.get("sessions", []), {"start": session_start, "end": time.time()}]
    meta["wall_s"] = sum(x["end"] - x["start"] for x in meta["sessions"])  # the time it ran, not the time it stood
    _save(root, meta)
    write_report(root)
    return root


def _save(root: Path, meta: dict) -> None:
    """``compare.json``, atomically (what ``--resume`` reads)."""
    from rayrlhf.core.durable import write_text_atomic

    write_text_atomic(root / "compare.json", json.dumps(meta, indent=1))


def _lock(root: Path) -> None:
    """Hold ``COMPARE_DIR/.lock`` for this process: a second driver on one comparison fails at once."""
    from rayrlhf.core.run_dir import RunDir

    RunDir(root).lock()


def join_compares(dirs: list[str | Path], into: str | Path) -> Path:
    """A compare directory whose ``compare.json`` lists the runs of every one of ``dirs`` (other seeds, other
    methods), for one report; nothing is copied but the first one's source-quality table. A method and seed run
    in two of them is refused. A run of a comparison whose shared config differs from the first one's (other than
    its output directory) carries those settings (``settings``), which the report names beside its method."""
    out = Path(into)
    out.mkdir(parents=True, exist_ok=True)
    joined: dict = {"methods": [], "seeds": [], "runs": {}, "joined": [str(Path(d).resolve()) for d in dirs]}
    seen: dict[tuple[str, int], str] = {}
    for d in map(Path, dirs):
        meta_path = d / "compare.json"
        if not meta_path.is_file():
            raise ConfigError(f"{d}: no compare.json (rayrlhf report joins `rayrlhf compare` directories)")
        meta = json.loads(meta_path.read_text())
        settings = settings_differing(Path(dirs[0]) / "config.yaml", d / "config.yaml")
        joined["methods"] += [m for m in meta["methods"] if m not in joined["methods"]]
        joined["seeds"] = sorted(set(joined["seeds"]) | set(meta["seeds"]))
        for rel, info in meta["runs"].items():
            key = (info["method"], info["seed"])
            if key in seen:
                raise ConfigError(f"{key[0]} seed {key[1]} is in both {seen[key]} and {d}; join directories with other seeds or methods")
            seen[key] = str(d)
            joined["runs"][os.path.relpath(d.resolve() / rel, out.resolve())] = info | ({"settings": settings} if settings else {})
    first = Path(dirs[0]) / "source_quality.json"
    if first.is_file():
        shutil.copy(first, out / "source_quality.json")
    (out / "compare.json").write_text(json.dumps(joined, indent=1))
    return out
