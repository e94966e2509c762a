"""Benchmark 3: the W reward actors scoring in parallel vs one after another, on a fake multi-node cluster
(``ray.cluster_utils.Cluster``: several raylets on this machine, each with its own logical CPUs; the actors placed
with ``run.placement=spread`` as on a real cluster); and what the Best-of-N extras cost per source arm.

Each source scores one iteration's share of Best-of-N candidates (``ceil(M / (W + 1)) x N`` responses: what a source
arm gets when UCB spreads the M prompts evenly over the W sources and ``self``). In parallel, every source's call is sent before any is awaited (as the pipeline does);
one after another, each is awaited before the next is sent. Speed-up is bounded by the machine's real cores.
"""

from __future__ import annotations

import math
import statistics
import time

import ray

from benchmarks.common import Section, log, ratio, retried


def candidate_texts(rows: list[dict], count: int) -> tuple[list[str], list[str], list[str]]:
    """(prompts, responses, references) for ``count`` candidates: each a reference with a few words left out, so
    lengths and words look like the policy's summaries. Deterministic."""
    prompts, responses, refs = [], [], []
    for i in range(count):
        row = rows[i % len(rows)]
        words = row["reference"].split()
        drop = (i // len(rows)) % max(1, len(words))
        prompts.append(row["prompt"])
        responses.append(" " + " ".join(words[:drop] + words[drop + 1 :]))
        refs.append(row["reference"])
    return prompts, responses, refs


def bon_cost(gen_s_per_sample: float, score_s_per_response: dict[str, float], oracle_s_per_response: float,
             k: int, n: int) -> list[dict]:
    """Per source arm: the seconds one prompt costs on that arm (K samples, oracle on K, N extra samples, the source
    on N) against the ``self`` arm (K samples, oracle on K), and their ratio. Pure arithmetic."""
    base = k * (gen_s_per_sample + oracle_s_per_response)
    rows = [{"arm": "self", "seconds_per_prompt": base, "extra_s_per_prompt": 0.0, "ratio_to_self": 1.0}]
    for name, s in score_s_per_response.items():
        extra = n * (gen_s_per_sample + s)
        rows.append({"arm": name, "seconds_per_prompt": base + extra, "extra_s_per_prompt": extra,
                     "ratio_to_self": (base + extra) / base})
    return rows


def _score_all(actors: dict, batch, parallel: bool) -> tuple[float, dict[str, float]]:
    """Wall seconds for every actor to score ``batch``, and each call's own seconds (one after another only)."""
    own = {}
    t0 = time.perf_counter()
    if parallel:
        ray.get([a.score.remote(*batch) for a in actors.values()])
    else:
        for name, a in actors.items():
            t = time.perf_counter()
            ray.get(a.score.remote(*batch))
            own[name] = time.perf_counter() - t
    return time.perf_counter() - t0, own


def start_fake_cluster(nodes: int, cpus_per_node: int):
    from ray.cluster_utils import Cluster

    ray.shutdown()
    cluster = retried(lambda: Cluster(initialize_head=True, head_node_args={"num_cpus": 1}), "fake cluster head")[0]
    # Cluster records its address in /tmp/ray/ray_current_cluster, where any other `ray.init()` on this machine would
    # find it and join it: forget it at once (we connect by address)
    from ray._common.utils import reset_ray_address

    reset_ray_address()
    for i in range(nodes):
        retried(lambda: cluster.add_node(num_cpus=cpus_per_node), f"fake node {i + 1}")
    ray.init(address=cluster.address)
    cluster.wait_for_nodes()
    return cluster


def run(cfg, train_rows: list[dict], gen_s_per_sample: float | None, repeats: int = 3, nodes: int = 3,
        cpus_per_node: int = 2) -> Section:
    from rayrlhf.core.placement import Placement
    from rayrlhf.rewards.actor import reward_actor

    section = Section("scoring", "3. Reward actors in parallel vs one after another; the Best-of-N extras")
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"placement": "spread"})})
    w, k, n = len(cfg.sources), cfg.train.responses_per_prompt, cfg.transfer.best_of_n
    log(f"benchmark 3: fake cluster of {nodes} nodes x {cpus_per_node} CPUs, {w} reward actors + the oracle's")
    cluster = start_fake_cluster(nodes, cpus_per_node)
    try:
        placement = Placement(cfg)
        actors = {s.name: reward_actor(s, cfg.task, placement.strategy(f"reward/{s.name}")) for s in cfg.sources}
        oracle = reward_actor(cfg.oracle.reward, cfg.task, placement.strategy("oracle"))
        nodes_used = len(set(ray.get([a.node_id.remote() for a in [*actors.values(), oracle]])))
        batch = candidate_texts(train_rows, math.ceil(cfg.train.prompts_per_iteration / (w + 1)) * n)
        _score_all({**actors, "oracle": oracle}, batch, parallel=False)  # warm-up: first calls load lazily
        par, seq, own = [], [], []
        for _ in range(repeats):
            seq_s, per = _score_all(actors, batch, parallel=False)
            seq.append(seq_s)
            own.append(per)
            par.append(_score_all(actors, batch, parallel=True)[0])
        oracle_s = statistics.median(_score_all({"oracle": oracle}, batch, parallel=False)[0] for _ in range(repeats))
        placement.release()
    finally:
        ray.shutdown()
        cluster.shutdown()
    size = len(batch[0])
    per_response = {name: statistics.median(p[name] for p in own) / size for name in actors}
    section.ratios = {f"scoring {w} sources, one after another / in parallel (speed-up)": ratio(statistics.median(seq),
                                                                                            statistics.median(par))}
    section.values = {"responses_per_source": size, "parallel_s": par, "sequential_s": seq, "nodes_used": nodes_used,
                      "score_s_per_response": per_response, "oracle_s_per_response": oracle_s / size,
                      "gen_s_per_sample": gen_s_per_sample, "fake_cluster": {"nodes": nodes, "cpus_per_node": cpus_per_node}}
    section.tables["seconds per source call"] = [{"source": name, "kind": s.kind, "seconds": per_response[name] * size,
                                                  "ms_per_response": 1e3 * per_response[name]}
                                                 for name, s in zip(actors, cfg.sources, strict=True)]
    if gen_s_per_sample is not None:
        rows = bon_cost(gen_s_per_sample, per_response, oracle_s / size, k, n)
        section.tables["Best-of-N extras per arm (seconds per prompt)"] = rows
        section.ratios |= {f"prompt cost on arm '{r['arm']}' / on 'self'": r["ratio_to_self"] for r in rows[1:]}
    section.notes.append(f"{nodes_used} fake nodes held the actors; parallel speed-up cannot exceed the machine's real cores.")
    return section
