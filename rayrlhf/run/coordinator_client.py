"""The driver's handle on the coordinator actor: started on the driver's node, every call bounded by
``run.timeouts.annotate`` (a dead coordinator stops the run at once).

Ray touch point: the coordinator runs as a threaded actor, up to two rounds collected at once beside its other calls
(``transfer.delay``).
"""

from __future__ import annotations

import ray

from rayrlhf.config import Config
from rayrlhf.core.faults import wait
from rayrlhf.core.placement import on_driver_node
from rayrlhf.run.coordinator import Coordinator


class CoordinatorClient:
    """The run's coordinator (arm statistics, budget, ledger and the oracle backend), with ``oracle_actor`` as the
    simulated oracle's reward."""

    def __init__(self, cfg: Config, run_root: str, oracle_actor) -> None:
        from rayrlhf.rewards.actor import ActorScore

        self.timeout = cfg.run.timeouts.annotate
        actor = ray.remote(concurrency_groups={"annotate": 2})(Coordinator)
        self.actor = actor.options(num_cpus=0, scheduling_strategy=on_driver_node()).remote(
            cfg, run_root, score=ActorScore(oracle_actor, cfg.run.timeouts.score))

    def call(self, method: str, *args):
        """``Coordinator.<method>(*args)`` on the actor, waited for."""
        return wait(getattr(self.actor, method).remote(*args), "annotate", "the coordinator", self.timeout)

    def ask(self, items) -> ray.ObjectRef:
        """Reserve ``items``' queries (in round order) and start collecting their answers: a future of them."""
        return self.actor.collect.remote(self.call("reserve", items))

    def answers(self, future: ray.ObjectRef):
        """The answers behind ``future`` (bounded by ``run.timeouts.annotate``)."""
        return wait(future, "annotate", "the coordinator", self.timeout)

    def close(self) -> None:
        """Stop the backend's services and the actor (a dead coordinator has nothing left to close)."""
        try:
            wait(self.actor.close.remote(), "close", "the coordinator", 60)
        except Exception:
            pass
        ray.kill(self.actor)
