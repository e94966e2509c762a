"""Reward actors: one per source reward model, and one for the simulated oracle's reward (docs/architecture.md).

Ray touch points: ``ray.remote`` options in :func:`reward_actor` (resources, restarts, retries).
"""

from __future__ import annotations

import ray

from rayrlhf.config import SourceConfig, TaskConfig
from rayrlhf.core.logs import QUIET


class RewardWorker:
    """Hosts one source reward model (or the simulated oracle's reward). Stateless: safe to restart."""

    def __init__(self, source: SourceConfig, task: TaskConfig, cache_dir: str | None = None) -> None:
        from rayrlhf.rewards import build_source
        from rayrlhf.task.build import resolve_model

        self.source = build_source(source, lambda m: resolve_model(m, task), cache_dir)

    def score(self, prompts: list[str], responses: list[str], references: list[str] | None,
              conversations: list[str] | None = None) -> list[float]:
        return self.source.score(prompts, responses, references, conversations)

    def node_id(self) -> str:
        return ray.get_runtime_context().get_node_id()


class ActorScore:
    """A reward actor's ``score`` as a plain function (what the simulated oracle calls), bounded by
    ``timeout_s`` (``run.timeouts.score``)."""

    def __init__(self, actor, timeout_s: float, name: str = "oracle") -> None:
        self.actor, self.timeout_s, self.name = actor, timeout_s, name

    def __call__(self, prompts: list[str], responses: list[str], references: list[str] | None,
                 conversations: list[str] | None = None) -> list[float]:
        from rayrlhf.core.faults import wait

        return wait(self.actor.score.remote(prompts, responses, references, conversations), "annotate",
                    f"reward actor '{self.name}'", self.timeout_s)


def reward_actor(source: SourceConfig, task: TaskConfig, scheduling="DEFAULT", max_restarts: int = 3,
                 cache_dir: str | None = None):
    """Restarted by Ray (at most ``max_restarts`` times) if its process or node dies; a call in flight is retried
    on the new process. A scorer that dies on every call therefore ends the run with an error, not a loop.
    ``max_task_retries=-1`` (Ray's fault-tolerance idiom): a call is retried until the restarts run out, so the
    seconds before Ray declares a lost node dead cannot use up a fixed retry count (tests/run/test_faults_node.py)."""
    return ray.remote(RewardWorker).options(
        num_cpus=source.num_cpus, num_gpus=source.num_gpus, resources=source.resources, max_restarts=max_restarts,
        max_task_retries=-1, scheduling_strategy=scheduling,
        runtime_env={"env_vars": QUIET},
    ).remote(source, task, cache_dir)
