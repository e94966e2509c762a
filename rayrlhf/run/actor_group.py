"""The actor set of a run: Ray itself, the rollout engines, one reward actor per source, the oracle's reward
actor and the learner, and the bounded calls the pipeline makes on them.

Ray touch points: ``ray.init`` (here), the actors (``rayrlhf.rollout.actor``, ``rayrlhf.rewards.actor``), the learner (``rayrlhf.learner``).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from pathlib import Path

import ray

from rayrlhf.config import Config
from rayrlhf.core.faults import wait
from rayrlhf.core.logs import after_ray_init, ray_init_options
from rayrlhf.core.placement import resource_table
from rayrlhf.core.records import ScoringBatch
from rayrlhf.rollout.weights import initial_rollout_weights, rollout_weights


def ray_cpus_needed(cfg: Config) -> float:
    """Logical CPUs a run's actors and learner request; on one machine the stages run one after another, so
    Ray's CPU count is a scheduling budget here, not a promise of parallel cores."""
    return sum(row.cpus for row in resource_table(cfg))


def runs_that_fit(cfg: Config) -> int:
    """How many runs of ``cfg`` the connected cluster's CPUs hold now (at least 1)."""
    return max(1, math.floor(ray.cluster_resources().get("CPU", 1) / ray_cpus_needed(cfg)))


def init_ray(cfg: Config, runs: int = 1) -> None:
    """Join ``run.ray_address`` / ``$RAY_ADDRESS``, or start a local Ray whose logical CPUs fit ``runs`` runs."""
    if ray.is_initialized():
        return
    address = cfg.run.ray_address or os.environ.get("RAY_ADDRESS")
    # actors' output reaches the driver only with --verbose (RUN_DIR/logs/ray otherwise: rayrlhf.core.logs)
    if address:
        ray.init(address=address, **ray_init_options())
    else:  # one logical CPU beyond the actors' for the driver's own tasks (Ray Data splitting the pairs)
        # address="local": this run's own Ray, also when another one (a `ray start` cluster, another run) is up here
        ray.init(address="local", num_cpus=max(os.cpu_count() or 1, math.ceil(runs * ray_cpus_needed(cfg)) + 1),
                 include_dashboard=False, runtime_env={"worker_process_setup_hook": "rayrlhf.core.logs.worker_setup"},
                 **ray_init_options())
    after_ray_init()
    ray.data.DataContext.get_current().enable_progress_bars = False


class Workers:
    """The actors that one run, or several runs in turn (``rayrlhf compare``), share. All but the learner are
    stateless; every call on them is bounded by its stage's timeout (``run.timeouts``)."""

    def __init__(self, cfg: Config, model_dir: str, init_dir: str, storage: Path, optimizer_state: str | None = None):
        from rayrlhf.core.placement import Placement
        from rayrlhf.learner.ray_learner import Learner
        from rayrlhf.rewards.actor import reward_actor
        from rayrlhf.rollout.actor import point_weights, rollout_actor

        init_ray(cfg)
        t0 = time.perf_counter()
        self.cfg, self.timeouts = cfg, cfg.run.timeouts
        self.placement = Placement(cfg)
        self.weights_file = str(storage.resolve() / "rollout_weights")  # beside the learner's storage: shared
        engine_dir = initial_rollout_weights(model_dir, storage.resolve(), cfg)
        point_weights(self.weights_file, engine_dir)
        restarts = cfg.run.max_restarts
        self.rollouts = [rollout_actor(engine_dir, cfg, self.placement.strategy(f"rollout/{i}"), self.weights_file)
                         for i in range(cfg.rollout.num_actors)]
        cache = str(storage.resolve().parent / "score_cache")  # http sources' scores: a resume pays no endpoint twice
        self.sources = {s.name: reward_actor(s, cfg.task, self.placement.strategy(f"reward/{s.name}"), restarts, cache)
                        for s in cfg.sources}
        self.oracle = reward_actor(cfg.oracle.reward, cfg.task, self.placement.strategy("oracle"), restarts, cache)
        self.learner = Learner(cfg, model_dir, init_dir, storage, optimizer_state=optimizer_state)
        wait([r.generate.remote(["warm-up"], 1) for r in self.rollouts], "startup", "rollout engine", self.timeouts.startup)
        self.learner.wait_ready(self.timeouts.startup)  # a learner that cannot start fails now, not after iteration 1
        self.initial_dir = init_dir  # the run's initial policy (``model_dir`` is where these workers start from)
        self.initial_engine_dir = engine_dir if model_dir == init_dir else None  # made on a reset to it, if ever
        self._storage = storage.resolve()
        self.startup_s = time.perf_counter() - t0
        self.engine_calls: Counter[str] = Counter()  # generate calls per stage (metrics' rollout/engine_calls)
        self.generated_tokens: Counter[str] = Counter()  # tokens generated per stage (rollout/generated_tokens)

    def generate(self, prompts: list[str], n: int | list[int], temperature: float | None = None, seed: int = 0,
                 stage: str = "generate", max_new_tokens: int | None = None) -> list[list[dict]]:
        """``n`` samples per prompt (or ``n[i]`` for prompt ``i``), the prompts split evenly over the rollout actors
        (data parallel)."""
        self.engine_calls[stage] += 1
        k = len(self.rollouts)
        size = -(-len(prompts) // k)
        counts = [n] * len(prompts) if isinstance(n, int) else list(n)
        parts = [self.rollouts[i].generate.remote(prompts[i * size : (i + 1) * size], counts[i * size : (i + 1) * size],
                                                  temperature, seed + i, max_new_tokens)
                 for i in range(k) if prompts[i * size : (i + 1) * size]]
        rows = [row for part in wait(parts, stage, "rollout engine", getattr(self.timeouts, stage)) for row in part]
        self.generated_tokens[stage] += sum(len(sample["token_ids"]) for row in rows for sample in row)
        return rows

    def score(self, source: str, batch: ScoringBatch):
        """A reference to source ``source``'s scores of ``batch`` (a name in ``sources``; the oracle's reward is
        :meth:`oracle_scores`, by role, never by name); the scores themselves come from :meth:`scores`."""
        return self.sources[source].score.remote(*batch.columns())

    def oracle_scores(self, batch: ScoringBatch, stage: str = "score") -> list[list[float]]:
        """The oracle's reward ``r*`` of ``batch`` (the simulated oracle's and the evaluation's judge), per prompt."""
        return self.scores(self.oracle.score.remote(*batch.columns()), "oracle", stage, batch)

    def scores(self, ref, source: str, stage: str, batch: ScoringBatch) -> list[list[float]]:
        """The scores behind ``ref`` (bounded by ``run.timeouts.score``), per prompt of ``batch``."""
        return batch.split(wait(ref, stage, f"reward actor '{source}'", self.timeouts.score))

    def every_source(self, batch: ScoringBatch) -> dict[str, list[list[float]]]:
        """Every source's scores of ``batch`` (all calls in flight at once), per source in config order."""
        refs = {name: self.score(name, batch) for name in self.sources}
        return {name: self.scores(ref, name, "score", batch) for name, ref in refs.items()}

    def load_weights(self, model_dir: str) -> float:
        """Every rollout engine takes the new weights in place; returns the slowest one's seconds. The pointer
        goes first, so an engine that restarts meanwhile starts from these weights."""
        from rayrlhf.rollout.actor import point_weights

        engine_dir = rollout_weights(model_dir)
        point_weights(self.weights_file, engine_dir)
        done = wait([r.load_weights.remote(engine_dir) for r in self.rollouts], "weight_sync", "rollout engine",
                    self.timeouts.weight_sync)
        return max(done)

    def reset(self, model_dir: str, optimizer_state: str | None = None) -> None:
        """Point the rollout engines and the learner at ``model_dir`` for a new run, or at a checkpoint (with its
        ``optimizer_state``) for a resumed one."""
        if model_dir == self.initial_dir and self.initial_engine_dir is None:
            self.initial_engine_dir = initial_rollout_weights(model_dir, self._storage, self.cfg)
        self.load_weights(self.initial_engine_dir if model_dir == self.initial_dir else model_dir)
        resumed = model_dir != self.initial_dir
        self.learner.reset(model_dir, self.initial_dir if resumed else None, optimizer_state)

    def close(self) -> None:
        self.learner.close()
        for actor in [*self.rollouts, self.oracle, *self.sources.values()]:
            ray.kill(actor)
        self.placement.release()
