"""Placement of the rollout and reward actors: one placement group per run, PACK or SPREAD.

Reserving the bundles up front means a run either gets everything it asked for or fails early, after
``run.placement_timeout_s``, with a message that names what is missing, instead of waiting silently. It
also keeps the actors out of a Tune trial's own placement group (a sweep's trials each reserve theirs).

Ray touch points: ``ray.util.placement_group`` and ``PlacementGroupSchedulingStrategy`` (here).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy

from rayrlhf.config import Config


def on_driver_node() -> NodeAffinitySchedulingStrategy:
    """For the run's zero-CPU bookkeeping actors (coordinator, learner queues): pinned beside the driver (hard
    affinity: soft affinity lets Ray place zero-CPU actors anywhere), so losing a worker node never takes the
    run's state with it; if the driver's node goes, the run goes with it anyway."""
    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


@dataclass(frozen=True)
class ResourceRow:
    """What one actor (or the learner's workers together) asks of the cluster."""

    name: str
    cpus: float
    gpus: float
    resources: dict[str, float] = field(default_factory=dict)

    def bundle(self) -> dict[str, float]:
        return {"CPU": self.cpus, **self.resources, **({"GPU": self.gpus} if self.gpus else {})}


def resource_table(cfg: Config) -> list[ResourceRow]:
    """Every actor of a run and what it asks for: the rollout engines, one reward actor per source, the oracle's
    reward actor, and the learner's workers (Ray Train places those itself). The one place this is written."""
    r, o, t = cfg.rollout, cfg.oracle.reward, cfg.train
    rows = [ResourceRow(f"rollout/{i}", r.num_cpus, r.num_gpus, r.resources) for i in range(r.num_actors)]
    rows += [ResourceRow(f"reward/{s.name}", s.num_cpus, s.num_gpus, s.resources) for s in cfg.sources]
    rows.append(ResourceRow("oracle", o.num_cpus, o.num_gpus, o.resources))
    rows.append(ResourceRow("learner", t.num_workers * t.cpus_per_worker, float(t.num_workers) if t.use_gpu else 0.0))
    return rows


def actor_bundles(cfg: Config) -> dict[str, dict[str, float]]:
    """Name -> resources for every rollout and reward actor of a run (the learner reserves its own)."""
    return {row.name: row.bundle() for row in resource_table(cfg) if row.name != "learner"}


def _shortfall(bundles: dict[str, dict[str, float]]) -> str:
    need: dict[str, float] = defaultdict(float)
    for b in bundles.values():
        for k, v in b.items():
            need[k] += v
    have, free = ray.cluster_resources(), ray.available_resources()
    missing = {k: v - have.get(k, 0.0) for k, v in need.items() if v > have.get(k, 0.0) + 1e-9}
    if missing:
        return "the cluster lacks " + ", ".join(f"{k} {v:g} (needs {need[k]:g}, has {have.get(k, 0):g})" for k, v in missing.items())
    busy = {k: v for k, v in need.items() if v > free.get(k, 0.0) + 1e-9}
    if busy:
        return "the resources exist but are in use: " + ", ".join(
            f"{k} needs {v:g}, {free.get(k, 0):g} free" for k, v in busy.items()) + " (other runs or trials hold them)"
    return "the totals fit but no node can hold some bundle under this strategy; bundles: " + str(bundles)


class Placement:
    """A ready placement group and the scheduling strategy for each named actor."""

    def __init__(self, cfg: Config) -> None:
        self.bundles = actor_bundles(cfg)
        self.names = list(self.bundles)
        self.pg = placement_group(list(self.bundles.values()), strategy=cfg.run.placement.upper(), name="")
        ready, _ = ray.wait([self.pg.ready()], timeout=cfg.run.placement_timeout_s)
        if not ready:
            reason = _shortfall(self.bundles)
            remove_placement_group(self.pg)
            raise RuntimeError(
                f"cannot place this run's actors within run.placement_timeout_s={cfg.run.placement_timeout_s:g}s: "
                f"{reason}. Lower the num_cpus/num_gpus/resources of rollout and sources, add nodes, or use "
                f"run.placement=pack")

    def strategy(self, name: str) -> PlacementGroupSchedulingStrategy:
        return PlacementGroupSchedulingStrategy(self.pg, placement_group_bundle_index=self.names.index(name))

    def node_ids(self) -> list[str]:
        """The nodes the placement group's bundles are on (one node with ``run.placement: strict_pack``)."""
        return sorted({str(n) for n in ray.util.placement_group_table(self.pg)["bundles_to_node_id"].values()})

    def release(self) -> None:
        remove_placement_group(self.pg)
