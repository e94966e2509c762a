"""The fault matrix's "node" row: a `rayrlhf train` process joins a fake two-node cluster (`ray.cluster_utils.Cluster`:
a head for the driver and its bookkeeping, a worker node for the rollout engine, the reward actors, the oracle's reward
model and the learner) and the worker node is removed during generation, annotation, training or the checkpoint
write; a replacement node joins, as an autoscaler would add one. The run completes or stops with a clear message,
`--resume` completes it, and the ledger shows 0 labels lost and 0 paid twice (``make faults``; ~2 min a case).
"""

import uuid

import psutil
import pytest

from tests.support.faults_harness import BILLING, TEST_ENV, TITLES, Run, check_paid_once, finish_or_resume

pytestmark = pytest.mark.ray

#: the head has one logical CPU (the driver's Ray Data tasks) and no `worker` resource, so every actor and the
#: 2-CPU learner worker can only live on a worker node
HEAD = {"num_cpus": 1, "resources": {"head": 1}}
WORKER = {"num_cpus": 4, "resources": {"worker": 8}}
ON_WORKER = ["rollout.resources={worker: 1}", "oracle.reward.resources={worker: 1}", "train.num_workers=1",
             "train.cpus_per_worker=2", "rollout.backend=hf",
             *[f"sources.{i}.resources={{worker: 1}}" for i in range(3)]]


def node_of(process: psutil.Process, raylets: dict[int, str]) -> str | None:
    """Which node a Ray worker process belongs to: the raylet among its ancestors (one machine, several raylets)."""
    for parent in process.parents():
        if parent.pid in raylets:
            return raylets[parent.pid]
    return None


@pytest.fixture
def cluster(monkeypatch):
    """A head and one worker node; the raylets start from this process, so their workers inherit its environment
    (the run tag and the oracle's delay are set here, not only in the driver's)."""
    from ray.cluster_utils import Cluster

    for name, value in {**TEST_ENV, "RAYRLHF_TEST_RUN": "node-" + uuid.uuid4().hex}.items():
        monkeypatch.setenv(name, value)  # Run takes the tag from here
    c = Cluster(initialize_head=True, head_node_args=HEAD)
    c.add_node(**WORKER)
    c.wait_for_nodes()
    try:
        yield c
    finally:
        c.shutdown()


def raylets(c) -> dict[int, str]:
    nodes = {"head": c.head_node, **{f"worker{i}": n for i, n in enumerate(c.worker_nodes)}}
    return {n.all_processes["raylet"][0].process.pid: name for name, n in nodes.items()}


@pytest.mark.faults
@pytest.mark.parametrize("stage", ["generate", "annotate", "train", "checkpoint"])
def test_node_lost(train_config, tmp_path, cluster, stage, record_property):
    run_dir = tmp_path / "run"
    run = Run([*train_config, f"run.output_dir={run_dir}", f"run.ray_address={cluster.address}", *ON_WORKER, *BILLING],
              run_dir)
    try:
        run.wait_for(stage, 1)
        nodes = raylets(cluster)
        where = {name: {node_of(p, nodes) for p in run.processes(name)} for name in TITLES}
        assert where["coordinator"] == {"head"}, where  # the driver's node: not the one removed
        assert all(where[name] == {"worker0"} for name in ("reward", "rollout", "learner")), where
        cluster.remove_node(next(iter(cluster.worker_nodes)), allow_graceful=False)  # a crash, not a drain
        cluster.add_node(**WORKER)  # the replacement (an autoscaler's new node)
        record_property("first_run", finish_or_resume(run))
    finally:
        run.close()
    check_paid_once(run_dir, 2)
