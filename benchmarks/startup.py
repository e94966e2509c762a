"""Benchmark 4a: start-up, broken down by actor, and a cut.

Three measurements, each in a fresh local Ray started the way ``rayrlhf train`` starts it
(:func:`rayrlhf.run.actor_group.init_ray`), one after the other in one process:

- ``library``: :class:`rayrlhf.run.actor_group.Workers` as the pipeline builds it (it returns once the engine has answered a
  warm-up and the learner's workers have loaded; the reward actors may still be loading then, so we also wait
  for every reward actor to answer: "all ready");
- ``one at a time``: each piece alone, awaited before the next (placement group, rollout engine, each reward actor,
  the oracle's actor, the learner): what each costs by itself;
- variants (:data:`VARIANTS`): the same actors, all started before any is awaited, with one change in
  :data:`PROTOTYPE` each: ``before`` undoes the cut the library made (the CPU vLLM engine back in two processes of
  its own), the others are further changes not in the library, to show what each would save.

CPU seconds are summed per process type (``ray::RewardWorker``, ``VLLM::EngineCore``, ``raylet``, idle Ray workers
...) over the whole process tree: on 2 cores, start-up is bounded by the CPU work of every process at once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import ray

from benchmarks.common import Section, log, ratio, retried

# What the variant start-ups change (each a small change to rayrlhf/run/actor_group.py, rayrlhf/rollout/actor.py or rayrlhf/rewards/actor.py).
PROTOTYPE = {
    "engine_processes": "before the cut: VLLM_ENABLE_V1_MULTIPROCESSING=1 in the CPU rollout actor's env, so the vLLM engine "
                        "core and its worker run in two more processes that import torch and vLLM again (the library now "
                        "runs a CPU engine inside the actor: rayrlhf.rollout.actor.rollout_actor)",
    "job_level_env": "the actors' environment variables (rayrlhf.core.logs.QUIET, the KV cache size) set once for the job, "
                     "ray.init(runtime_env={'env_vars': ...}), instead of per actor: actors then start in the idle workers Ray "
                     "prestarts at init instead of new processes",
    "no_idle_worker_prestart": "ray.init(_system_config={'prestart_worker_first_driver': False}): Ray otherwise starts one idle "
                               "Python worker per logical CPU at init, competing with the actors for the cores",
}
BEFORE = "before (engine in two more processes)"
VARIANTS = {
    BEFORE: ("engine_processes",),
    "library + job env": ("job_level_env",),
    "library + no prestart": ("no_idle_worker_prestart",),
}


def process_label(proc) -> str:
    """``ray::RewardWorker``, ``VLLM::EngineCore``, ``raylet``, ``python dashboard/agent.py`` ... for grouping."""
    try:
        cmd = proc.cmdline()
    except Exception:
        return "?"
    first = cmd[0] if cmd else proc.name()
    if first.startswith(("ray::", "VLLM::")):
        return first.split()[0].split(".")[0]
    name = Path(first).name
    args = [a for a in cmd[1:] if not a.startswith("-")]
    if name.startswith("python") and args:
        return f"python {'/'.join(Path(args[0]).parts[-2:])}"
    return name


def cpu_by_process(exclude_self: bool = True) -> dict[str, float]:
    """User + system CPU seconds of every live process under this one, summed by :func:`process_label`."""
    import os

    import psutil

    out: dict[str, float] = defaultdict(float)
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            t = p.cpu_times()
            out[process_label(p)] += t.user + t.system
        except psutil.Error:
            pass
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _fresh_ray(cfg, system_config: dict | None = None, env_vars: dict | None = None) -> float:
    """A fresh local Ray as :func:`rayrlhf.run.actor_group.init_ray` starts one (plus ``system_config`` / a job-level
    environment for the prototypes); seconds it took."""
    import math
    import os

    from rayrlhf.run.actor_group import init_ray, ray_cpus_needed

    def start() -> None:
        if system_config or env_vars:
            ray.init(num_cpus=max(os.cpu_count() or 1, math.ceil(ray_cpus_needed(cfg)) + 1), include_dashboard=False,
                     _system_config=system_config, runtime_env={"env_vars": env_vars} if env_vars else None)
            ray.data.DataContext.get_current().enable_progress_bars = False
        else:
            init_ray(cfg)

    ray.shutdown()
    return retried(start, "ray.init")[1]


def _ready(refs: dict[str, object], t0: float) -> dict[str, float]:
    """Seconds from ``t0`` until each named reference resolved (polled as they finish)."""
    pending = {ref: name for name, ref in refs.items()}
    done = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=3600)
        for ref in ready:
            ray.get(ref)
            done[pending.pop(ref)] = time.perf_counter() - t0
    return done


def measure_library(cfg, model_dir: str, storage: Path) -> dict:
    from rayrlhf.run.actor_group import Workers

    init_s = _fresh_ray(cfg)
    t0 = time.perf_counter()
    workers = Workers(cfg, model_dir, model_dir, storage)
    returned = time.perf_counter() - t0
    ready = _ready({f"reward/{n}": a.node_id.remote() for n, a in [*workers.sources.items(), ("oracle", workers.oracle)]}, t0)
    all_ready = time.perf_counter() - t0
    cpu = cpu_by_process()
    return {"ray_init_s": init_s, "returned_s": returned, "startup_s_metric": workers.startup_s, "all_ready_s": all_ready,
            "reward_ready_s": ready, "cpu_s": cpu, "workers": workers}


def measure_one_at_a_time(cfg, model_dir: str, storage: Path) -> dict:
    """Each piece alone, in the order Workers starts them."""
    from rayrlhf.core.placement import Placement
    from rayrlhf.learner.ray_learner import Learner
    from rayrlhf.rewards.actor import reward_actor
    from rayrlhf.rollout.actor import point_weights, rollout_actor
    from rayrlhf.rollout.weights import initial_rollout_weights

    parts = {"ray.init": _fresh_ray(cfg)}
    t = time.perf_counter()
    placement = Placement(cfg)
    engine_dir = initial_rollout_weights(model_dir, storage.resolve(), cfg)
    parts["placement group + rollout weights"] = time.perf_counter() - t
    weights_file = str(storage.resolve() / "rollout_weights")
    point_weights(weights_file, engine_dir)
    actors = []
    t = time.perf_counter()
    engine = rollout_actor(engine_dir, cfg, placement.strategy("rollout/0"), weights_file)
    ray.get(engine.generate.remote(["warm-up"], 1))
    parts["rollout engine (vLLM, to first answer)"] = time.perf_counter() - t
    actors.append(engine)
    for s in [*cfg.sources, cfg.oracle.reward]:
        name = "oracle" if s is cfg.oracle.reward else f"reward/{s.name}"
        t = time.perf_counter()
        actor = reward_actor(s, cfg.task, placement.strategy(name), cfg.run.max_restarts)
        ray.get(actor.node_id.remote())
        parts[f"{name} ({s.kind})"] = time.perf_counter() - t
        actors.append(actor)
    t = time.perf_counter()
    learner = Learner(cfg, model_dir, model_dir, storage / "one_at_a_time")
    learner.wait_ready(cfg.run.timeouts.startup)
    parts[f"learner ({cfg.train.num_workers} Ray Train workers)"] = time.perf_counter() - t
    cpu = cpu_by_process()
    learner.close()
    for a in actors:
        ray.kill(a)
    placement.release()
    return {"parts_s": parts, "sum_s": sum(parts.values()), "cpu_s": cpu}


def _prototype_actors(cfg, placement, engine_dir: str, weights_file: str, changes: tuple[str, ...], env: dict):
    """Workers' rollout and reward actors (as rayrlhf.rollout.actor and rayrlhf.rewards.actor build them), with ``changes``."""
    from rayrlhf.rewards.actor import RewardWorker
    from rayrlhf.rollout.actor import RolloutWorker

    def options(res, name: str) -> dict:
        return {"num_cpus": res.num_cpus, "num_gpus": res.num_gpus, "resources": res.resources,
                "max_restarts": cfg.run.max_restarts, "max_task_retries": cfg.run.max_restarts,
                "scheduling_strategy": placement.strategy(name),
                **({} if "job_level_env" in changes else {"runtime_env": {"env_vars": env}})}

    rollouts = [ray.remote(RolloutWorker).options(**options(cfg.rollout, f"rollout/{i}")).remote(engine_dir, cfg, weights_file)
                for i in range(cfg.rollout.num_actors)]
    rewards = {f"reward/{s.name}": ray.remote(RewardWorker).options(**options(s, f"reward/{s.name}")).remote(s, cfg.task)
               for s in cfg.sources}
    rewards["oracle"] = ray.remote(RewardWorker).options(**options(cfg.oracle.reward, "oracle")).remote(cfg.oracle.reward, cfg.task)
    return rollouts, rewards


def measure_prototype(cfg, model_dir: str, storage: Path, changes: tuple[str, ...], calls: list | None = None) -> dict:
    """Workers' actors with ``changes`` (keys of :data:`PROTOTYPE`), all started before any is awaited. ``calls``
    (benchmark 2's rollout requests), when given, are then generated on the prototype's engine, to show it generates
    as fast."""
    from rayrlhf.core.logs import QUIET
    from rayrlhf.core.placement import Placement
    from rayrlhf.learner.ray_learner import Learner
    from rayrlhf.rollout.actor import point_weights
    from rayrlhf.rollout.weights import initial_rollout_weights

    env = {"VLLM_CPU_KVCACHE_SPACE": str(max(1, round(cfg.rollout.kv_cache_gib))), **QUIET}
    env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "1" if "engine_processes" in changes else "0"
    init_s = _fresh_ray(cfg, {"prestart_worker_first_driver": False} if "no_idle_worker_prestart" in changes else None,
                        env if "job_level_env" in changes else None)
    t0 = time.perf_counter()
    placement = Placement(cfg)
    engine_dir = initial_rollout_weights(model_dir, storage.resolve(), cfg)
    weights_file = str(storage.resolve() / "rollout_weights")
    point_weights(weights_file, engine_dir)
    rollouts, rewards = _prototype_actors(cfg, placement, engine_dir, weights_file, changes, env)
    learner = Learner(cfg, model_dir, model_dir, storage / "learner")
    refs = {f"rollout/{i}": a.generate.remote(["warm-up"], 1) for i, a in enumerate(rollouts)}
    refs |= {name: a.node_id.remote() for name, a in rewards.items()}
    ready = _ready(refs, t0)
    learner.wait_ready(cfg.run.timeouts.startup)
    ready["learner (after the rest)"] = time.perf_counter() - t0
    all_ready = time.perf_counter() - t0
    cpu = cpu_by_process()
    generation = _generate_calls(rollouts[0], calls) if calls else None
    learner.close()
    for a in [*rollouts, *rewards.values()]:
        ray.kill(a)
    placement.release()
    return {"changes": list(changes), "ray_init_s": init_s, "all_ready_s": all_ready, "total_s": init_s + all_ready,
            "ready_s": ready, "cpu_s": cpu, "rollout": generation}


def _generate_calls(actor, calls: list) -> dict:
    """Benchmark 2's rollout requests on one rollout actor (a warm-up pass, then the timed one): tokens per second."""
    for timed in (False, True):
        t0 = time.perf_counter()
        rows = [row for call in (calls if timed else calls[:1])
                for row in ray.get(actor.generate.remote([p for p, _ in call], [n for _, n in call]))]
    seconds = time.perf_counter() - t0
    tokens = sum(len(s["token_ids"]) for row in rows for s in row)
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}


def run(cfg, model_dir: str, out: Path, calls: list | None = None, variants: dict | None = None) -> tuple[Section, object]:
    """The section and the library's :class:`~rayrlhf.run.actor_group.Workers`, left running for the benchmarks that use it.
    The library is measured last, so it, not a prototype, has the warmest file cache."""
    variants = VARIANTS if variants is None else variants
    section = Section("startup", "4a. Start-up by actor, and a cut")
    log("benchmark 4a: each piece alone")
    alone = measure_one_at_a_time(cfg, model_dir, out / "one_at_a_time")
    for name, s in alone["parts_s"].items():
        log(f"  {name}: {s:.1f}s")
    protos = {}
    for i, (name, changes) in enumerate(variants.items()):
        log(f"benchmark 4a: prototype start-up '{name}' ({', '.join(changes)})")
        protos[name] = measure_prototype(cfg, model_dir, out / f"prototype_{i}", changes, calls if i == 0 else None)
        log(f"prototype '{name}': {protos[name]['ray_init_s']:.1f}s ray.init + {protos[name]['all_ready_s']:.1f}s until all ready")
    log("benchmark 4a: start-up as the library does it")
    lib = measure_library(cfg, model_dir, out / "library")
    workers = lib.pop("workers")
    lib["total_s"] = lib["ray_init_s"] + lib["all_ready_s"]
    log(f"library start-up: {lib['ray_init_s']:.1f}s ray.init + {lib['returned_s']:.1f}s Workers "
        f"({lib['all_ready_s']:.1f}s until every reward actor answered)")
    before = protos.get(BEFORE)
    section.ratios = {}
    if before:
        section.ratios["start-up wall (ray.init to all actors ready), library / before the cut"] = ratio(lib["total_s"], before["total_s"])
        section.ratios["start-up CPU seconds (every process), library / before the cut"] = ratio(
            sum(lib["cpu_s"].values()), sum(before["cpu_s"].values()))
    for n, p in protos.items():
        if n != BEFORE:
            section.ratios[f"start-up wall, prototype '{n}' / library"] = ratio(p["total_s"], lib["total_s"])
            section.ratios[f"start-up CPU seconds, prototype '{n}' / library"] = ratio(sum(p["cpu_s"].values()), sum(lib["cpu_s"].values()))
    section.ratios["start-up, library (concurrent) / one piece at a time"] = ratio(lib["total_s"], alone["sum_s"])
    section.values = {"library": lib, "one_at_a_time": alone, "prototypes": protos, "prototype_changes": PROTOTYPE,
                      "before": before, "before_rollout": before["rollout"] if before else None,
                      "library_total_s": lib["total_s"], "before_total_s": before["total_s"] if before else None}
    section.tables["start-up pieces, each alone (seconds)"] = [{"piece": k, "seconds": v} for k, v in alone["parts_s"].items()]
    section.tables["start-up before/after (seconds)"] = [
        {"variant": "library (rayrlhf.run.actor_group.Workers)", "ray_init_s": lib["ray_init_s"], "actors_ready_s": lib["all_ready_s"],
         "total_s": lib["total_s"], "cpu_s": sum(lib["cpu_s"].values())}] + [
        {"variant": n if n == BEFORE else f"prototype '{n}'", "ray_init_s": p["ray_init_s"], "actors_ready_s": p["all_ready_s"],
         "total_s": p["total_s"], "cpu_s": sum(p["cpu_s"].values())} for n, p in protos.items()]
    if before:
        labels = sorted(set(lib["cpu_s"]) | set(before["cpu_s"]), key=lambda k: -before["cpu_s"].get(k, 0.0))
        section.tables["CPU seconds by process during start-up (library vs before the cut)"] = [
            {"process": k, "library": lib["cpu_s"].get(k, 0.0), "before": before["cpu_s"].get(k, 0.0)} for k in labels[:16]]
    section.notes.append("On 2 cores every actor starts at once and start-up is bound by the CPU work of all of them: the CPU "
                         "seconds are the steadier measure when other jobs share the machine; wall seconds follow them on a "
                         "quiet one.")
    section.notes.append("Workers.startup_s (metrics' timing/startup_s) stops when the engine and learner are ready; the reward "
                         f"actors were still loading then for {lib['all_ready_s'] - lib['returned_s']:.1f}s more.")
    return section, workers
