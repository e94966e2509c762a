"""``rayrlhf train``: the iteration loop of empirical TPO (PAPER.md) and nothing else.

Per iteration: prompts in rounds -> coordinator assigns arms -> rollout generates K responses (and N more
for source arms) -> each source arm's reward actor scores its N, Best-of-N fills Rp slots -> the oracle
ranks the K (ledgered) and the coordinator records wins -> the learner trains on (chosen, rejected) pairs
-> the rollout engine takes the new weights in place -> evaluation vs the initial policy -> checkpoint.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import ray

from rayrlhf import tracking
from rayrlhf.algorithms.transfer import SELF_ARM, choose_pair, replace_with_best_of_n
from rayrlhf.config import Config, ConfigError, dump_config, load_config
from rayrlhf.coordinator import Coordinator, derived_seed
from rayrlhf.run_dir import RunDir
from rayrlhf.stats import paired_win_rate


def ray_cpus_needed(cfg: Config) -> float:
    """Logical CPUs the actors request; on one machine the stages run one after another, so Ray's CPU count
    is a scheduling budget here, not a promise of parallel cores."""
    sources = sum(s.num_cpus for s in cfg.sources) + cfg.oracle.reward.num_cpus
    return cfg.rollout.num_cpus * cfg.rollout.num_actors + sources + cfg.train.num_workers * cfg.train.cpus_per_worker


def runs_that_fit(cfg: Config) -> int:
    """How many runs of ``cfg`` the connected cluster's CPUs hold now (at least 1)."""
    return max(1, math.floor(ray.cluster_resources().get("CPU", 1) / ray_cpus_needed(cfg)))


def init_ray(cfg: Config, runs: int = 1) -> None:
    """Join ``run.ray_address`` / ``$RAY_ADDRESS``, or start a local Ray whose logical CPUs fit ``runs`` runs."""
    if ray.is_initialized():
        return
    address = cfg.run.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=max(os.cpu_count() or 1, math.ceil(runs * ray_cpus_needed(cfg))), include_dashboard=False,
                 log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False


def load_splits(cfg: Config) -> tuple[list[dict], list[dict]]:
    """(training prompts, held-out evaluation prompts) as ``{"prompt", "reference"}`` rows."""
    from rayrlhf.data import load_prompts

    train, report = load_prompts(cfg, cfg.data.split)
    if report.skipped:
        print(f"[data] {report.summary()}")
    cols = ["prompt"] + (["reference"] if "reference" in train.column_names else [])
    rows = train.select_columns(cols).to_list()
    if cfg.data.dataset == "builtin" or cfg.data.eval_split:
        ev, _ = load_prompts(cfg, cfg.data.eval_split or "heldout")
        eval_rows = ev.select_columns(cols).to_list()[: cfg.eval.num_prompts]
    else:  # a single local file: hold out its tail
        if len(rows) <= cfg.eval.num_prompts:
            raise ConfigError(f"data.dataset has {len(rows)} usable rows; eval.num_prompts={cfg.eval.num_prompts} "
                              "would leave none to train on. Lower eval.num_prompts or set data.eval_split")
        rows, eval_rows = rows[: -cfg.eval.num_prompts], rows[-cfg.eval.num_prompts :]
    return rows, eval_rows


class Workers:
    """The actors that one run, or several runs in turn (``rayrlhf compare``), share: the rollout engine, one
    reward actor per source, the oracle's reward actor and the learner. All but the learner are stateless."""

    def __init__(self, cfg: Config, model_dir: str, init_dir: str, storage: Path, optimizer_state: str | None = None):
        from rayrlhf.actors import point_weights, reward_actor, rollout_actor
        from rayrlhf.learner.ray_learner import Learner
        from rayrlhf.placement import Placement

        init_ray(cfg)
        t0 = time.perf_counter()
        self.placement = Placement(cfg)
        self.weights_file = str(storage.resolve() / "rollout_weights")  # beside the learner's storage: shared
        point_weights(self.weights_file, model_dir)
        self.rollouts = [rollout_actor(model_dir, cfg, self.placement.strategy(f"rollout/{i}"), self.weights_file)
                         for i in range(cfg.rollout.num_actors)]
        self.sources = {s.name: reward_actor(s, cfg.task, self.placement.strategy(f"reward/{s.name}")) for s in cfg.sources}
        self.oracle = reward_actor(cfg.oracle.reward, cfg.task, self.placement.strategy("oracle"))
        self.learner = Learner(cfg, model_dir, init_dir, storage, optimizer_state=optimizer_state)
        ray.get([r.generate.remote(["warm-up"], 1) for r in self.rollouts])  # wait for the engines
        self.startup_s = time.perf_counter() - t0

    def generate(self, prompts: list[str], n: int, temperature: float | None = None, seed: int = 0) -> list[list[dict]]:
        """``n`` samples per prompt, the prompts split evenly over the rollout actors (data parallel)."""
        k = len(self.rollouts)
        size = -(-len(prompts) // k)
        parts = [self.rollouts[i].generate.remote(prompts[i * size : (i + 1) * size], n, temperature, seed + i)
                 for i in range(k) if prompts[i * size : (i + 1) * size]]
        return [row for part in ray.get(parts) for row in part]

    def load_weights(self, model_dir: str) -> float:
        """Every rollout engine takes the new weights in place; returns the slowest one's seconds. The pointer
        goes first, so an engine that restarts meanwhile starts from these weights."""
        from rayrlhf.actors import point_weights

        point_weights(self.weights_file, model_dir)
        return max(ray.get([r.load_weights.remote(model_dir) for r in self.rollouts]))

    def reset(self, model_dir: str) -> None:
        """Point the rollout engines and the learner at ``model_dir`` for a new run."""
        self.load_weights(model_dir)
        self.learner.reset(model_dir)

    def close(self) -> None:
        self.learner.close()
        for actor in [*self.rollouts, self.oracle, *self.sources.values()]:
            ray.kill(actor)
        self.placement.release()


class Pipeline:
    def __init__(self, cfg: Config, run: RunDir, resume: bool, workers: Workers | None = None,
                 eval_init: dict | None = None) -> None:
        from rayrlhf.task.build import resolve_model

        self.cfg, self.run = cfg, run
        self.train_rows, self.eval_rows = load_splits(cfg)
        init_dir = resolve_model(cfg.policy.model, cfg.task)
        latest = run.latest() if resume else None
        self.state = latest[1] if latest else {"iteration": 0, "cursor": 0}
        model_dir = str(latest[0]) if latest else init_dir
        self.own_workers = workers is None
        self.workers = workers or Workers(cfg, model_dir, init_dir, run.root / "ray_train",
                                          str(latest[0] / "optimizer.pt") if latest else None)
        self.startup_s = self.workers.startup_s if self.own_workers else 0.0
        self._startup_logged = False  # start-up time goes into the first row this process writes
        w = self.workers
        self.sources, self.oracle, self.learner = w.sources, w.oracle, w.learner
        from rayrlhf.placement import on_driver_node

        self.coordinator = ray.remote(Coordinator).options(num_cpus=0, scheduling_strategy=on_driver_node()).remote(
            cfg, str(run.root), self.oracle)
        if eval_init is not None and not (run.root / "eval" / "iter_0.json").is_file():
            (run.root / "eval").mkdir(exist_ok=True)
            run.write_json_atomic(run.root / "eval" / "iter_0.json", eval_init)
        self.eval_init = self._initial_eval_samples()

    # -- one iteration ------------------------------------------------------------------------------------
    def _next_prompts(self) -> list[dict]:
        m, rows = self.cfg.train.prompts_per_iteration, self.train_rows
        start = self.state["cursor"]
        self.state["cursor"] = start + m
        return [rows[(start + i) % len(rows)] for i in range(m)]

    def _collect(self, iteration: int, prompts: list[dict], timing: dict) -> list[dict]:
        """Rounds of generate -> Best-of-N -> annotate; returns the iteration's preference pairs. A round's
        responses are saved before they are annotated, so a resumed run replays finished rounds from disk
        and the ledger answers their queries."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        ray.get(self.coordinator.start_iteration.remote(iteration))
        saved = self.run.saved_rounds(iteration)
        pairs: list[dict] = []
        size = cfg.transfer.refresh_every
        for r, start in enumerate(tqdm(range(0, len(prompts), size), desc=f"iter {iteration}: rounds", leave=False)):
            arms = ray.get(self.coordinator.assign.remote(len(prompts[start : start + size])))
            if r < len(saved):
                items = saved[r]
            else:
                items = self._generate_round(iteration, prompts[start : start + size], arms, timing)
                self.run.save_round(iteration, items)
            t = time.perf_counter()
            rankings = ray.get(self.coordinator.annotate.remote(items))
            timing["annotate_s"] += time.perf_counter() - t
            rng = np.random.default_rng(derived_seed(cfg.run.seed, "pairs", iteration, r))
            for item, ranking in zip(items, rankings, strict=True):
                if ranking is None:
                    continue
                c, j = choose_pair(ranking, cfg.transfer.pair_strategy, rng)
                pairs.append({"prompt": item["prompt"], "chosen": item["responses"][c],
                              "rejected": item["responses"][j], "explore": item["explore"]})
        return pairs

    def _generate_round(self, iteration: int, chunk: list[dict], arms: list[str], timing: dict) -> list[dict]:
        """K responses per prompt; for prompts on a source arm, N more scored by that source and the top Rp
        swapped into the first Rp slots (PAPER.md step 3)."""
        cfg, K, N, rp = self.cfg, self.cfg.train.responses_per_prompt, self.cfg.transfer.best_of_n, self.cfg.transfer.num_replace
        texts = [row["prompt"] for row in chunk]
        refs = [row.get("reference") for row in chunk]
        t = time.perf_counter()
        seed = derived_seed(cfg.run.seed, "gen", iteration, texts[0])
        base = [[s["text"] for s in row] for row in self.workers.generate(texts, K, None, seed)]
        by_arm = defaultdict(list)
        for i, arm in enumerate(arms):
            if arm != SELF_ARM:
                by_arm[arm].append(i)
        extra = {arm: [[s["text"] for s in row] for row in self.workers.generate([texts[i] for i in idx], N, None, seed + 1)]
                 for arm, idx in by_arm.items()}
        timing["generate_s"] += time.perf_counter() - t
        t = time.perf_counter()
        futures = {arm: self.sources[arm].score.remote(
            [texts[i] for i in idx for _ in range(N)], [x for row in extra[arm] for x in row],
            None if refs[0] is None else [refs[i] for i in idx for _ in range(N)]) for arm, idx in by_arm.items()}
        responses, masks = [list(b) for b in base], [[False] * K for _ in base]
        for arm, idx in by_arm.items():
            scores = ray.get(futures[arm])
            for j, i in enumerate(idx):
                responses[i], masks[i] = replace_with_best_of_n(base[i], extra[arm][j], scores[j * N : (j + 1) * N], rp)
        timing["score_s"] += time.perf_counter() - t
        return [{"prompt": texts[i], "reference": refs[i], "arm": arms[i], "responses": responses[i],
                 "transfer_mask": masks[i], "explore": base[i][-1]} for i in range(len(chunk))]

    def _initial_eval_samples(self) -> dict:
        path = self.run.root / "eval" / "iter_0.json"
        if path.is_file():
            import json

            return json.loads(path.read_text())
        if self.state["iteration"]:
            raise RuntimeError(f"{path} is missing; cannot evaluate against the initial policy on resume")
        return self._eval_samples(0)

    def _eval_samples(self, iteration: int) -> dict:
        """``eval.samples_per_prompt`` samples per held-out prompt from the current policy, with their oracle
        scores (prompts x samples); saved to ``RUN_DIR/eval/iter_N.json`` so that ``rayrlhf compare`` can judge
        policies head to head."""
        texts = [r["prompt"] for r in self.eval_rows]
        refs = [r.get("reference") for r in self.eval_rows]
        n = self.cfg.eval.samples_per_prompt
        seed = derived_seed(self.cfg.run.seed, "eval", iteration)
        responses = [[s["text"] for s in row] for row in self.workers.generate(texts, n, self.cfg.eval.temperature, seed)]
        flat = ray.get(self.oracle.score.remote([t for t in texts for _ in range(n)], [x for row in responses for x in row],
                                                None if refs[0] is None else [r for r in refs for _ in range(n)]))
        scores = [flat[i * n : (i + 1) * n] for i in range(len(texts))]
        out = {"iteration": iteration, "responses": responses, "oracle_scores": scores}
        (self.run.root / "eval").mkdir(exist_ok=True)
        self.run.write_json_atomic(self.run.root / "eval" / f"iter_{iteration}.json", out)
        return out

    def _evaluate(self, iteration: int) -> dict:
        """Oracle-judged win rate of the current policy vs the initial one on held-out prompts."""
        scores = self._eval_samples(iteration)["oracle_scores"]
        wr = paired_win_rate(scores, self.eval_init["oracle_scores"], seed=iteration)
        return {"eval/win_rate_vs_init": wr["mean"], "eval/win_rate_vs_init_ci_low": wr["ci_low"],
                "eval/win_rate_vs_init_ci_high": wr["ci_high"], "eval/oracle_score": float(np.mean(scores)),
                "eval/oracle_score_init": float(np.mean(self.eval_init["oracle_scores"]))}

    def iteration(self, iteration: int) -> dict:
        timing = defaultdict(float)
        t_iter = time.perf_counter()
        pairs = self._collect(iteration, self._next_prompts(), timing)
        t = time.perf_counter()
        ckpt = self.run.checkpoint(iteration)
        train = self.learner.train(pairs, ckpt, seed=derived_seed(self.cfg.run.seed, "train", iteration))
        timing["train_s"] = time.perf_counter() - t
        timing["weight_sync_s"] = self.workers.load_weights(str(ckpt))
        t = time.perf_counter()
        evaluation = self._evaluate(iteration)
        timing["eval_s"] = time.perf_counter() - t
        timing["iteration_s"] = time.perf_counter() - t_iter
        coord = ray.get(self.coordinator.metrics.remote())
        timing["startup_s"] = 0.0 if self._startup_logged else self.startup_s
        self._startup_logged = True
        row = {"iteration": iteration, **coord, "train/pairs": len(pairs),
               **{f"train/{k}": v for k, v in train.items() if k in ("loss", "reward_margin", "reward_accuracy", "kl", "steps")},
               **evaluation, **{f"timing/{k}": v for k, v in timing.items()}}
        # the row before the resume pointer: a crash between the two re-runs this iteration (resume_point
        # drops the row), so metrics.jsonl always holds exactly iterations 1..latest after a resume
        self.run.append_metrics(row)
        self.state["iteration"] = iteration
        self.run.mark_complete(iteration, {**self.state, "coordinator": ray.get(self.coordinator.state.remote())})
        return row

    def close(self) -> None:
        if self.own_workers:
            self.workers.close()


def new_run_dir(cfg: Config, path: str | Path) -> RunDir:
    run = RunDir(path)
    if (run.root / "config.yaml").exists():
        raise ConfigError(f"{run.root} already holds a run: continue it with `rayrlhf train --resume {run.root}`, "
                          "or choose another run.output_dir")
    run.root.mkdir(parents=True, exist_ok=True)
    (run.root / "config.yaml").write_text(dump_config(cfg))
    return run


def train(cfg: Config | None, run_dir: str | None = None, resume: bool = False, log=print) -> list[dict]:
    """Run (or resume) a training run; returns the metrics rows written."""
    if resume:
        run = RunDir(run_dir)
        if not (run.root / "config.yaml").is_file():
            raise ConfigError(f"--resume {run_dir}: no config.yaml there; is it a rayrlhf run directory?")
        cfg = load_config(run.root / "config.yaml")
    else:
        assert cfg is not None
        tracking.enabled(cfg.tracking)  # a missing tracker package fails before the run directory exists
        from rayrlhf.preflight import preflight

        preflight(cfg, run_dir or cfg.run.output_dir)  # data and models too: bad input leaves no run directory
        run = new_run_dir(cfg, run_dir or cfg.run.output_dir)
    done = run.resume_point()
    pipe = Pipeline(cfg, run, resume)
    try:
        rows = run_iterations(pipe, done, log)
    finally:
        pipe.close()
    shutil.rmtree(run.root / "ray_train", ignore_errors=True)
    return rows


def run_iterations(pipe: Pipeline, done: int, log=print, experiment_root: Path | None = None) -> list[dict]:
    """Iterations ``done+1..I`` of ``pipe``: metrics rows to ``metrics.jsonl``, TensorBoard and the enabled
    trackers (``tracking``; ``experiment_root`` groups a comparison's runs)."""
    from torch.utils.tensorboard import SummaryWriter

    from rayrlhf.tracking import RunTracker

    cfg, run = pipe.cfg, pipe.run
    rows = []
    writer = SummaryWriter(str(run.root / "tb"))
    tracker = RunTracker(cfg, run.root, experiment_root)
    try:
        log(f"[train] start-up {pipe.startup_s:.1f}s (actors, vLLM engine, learner); "
            f"iterations {done + 1}..{cfg.train.iterations} -> {run.root}")
        for it in range(done + 1, cfg.train.iterations + 1):
            row = pipe.iteration(it)
            for k, v in row.items():
                if isinstance(v, int | float) and k != "iteration":
                    writer.add_scalar(k, v, it)
            writer.flush()
            tracker.log(row, it)
            rows.append(row)
            log(f"[train] iteration {it}: win rate vs init {row['eval/win_rate_vs_init']:.3f} "
                f"[{row['eval/win_rate_vs_init_ci_low']:.3f}, {row['eval/win_rate_vs_init_ci_high']:.3f}], "
                f"oracle queries {row['oracle_queries']}, {row['timing/iteration_s']:.1f}s")
    finally:
        writer.close()
        tracker.close()
    return rows
