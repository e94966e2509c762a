"""Cluster files (validated against the schema Ray ships, KubeRay fields) and multi-node placement on a
fake 3-node cluster (`ray.cluster_utils.Cluster`, several raylets on this machine)."""

import json
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

from rayrlhf.config import load_config

from .conftest import REPO

CLUSTERS = REPO / "clusters"


@pytest.mark.parametrize("name", ["local.yaml", "aws.yaml", "gcp.yaml"])
def test_cluster_launcher_files_validate(name):
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    cfg = yaml.safe_load((CLUSTERS / name).read_text())
    jsonschema.validate(cfg, schema)
    if name != "local.yaml":
        workers = cfg["available_node_types"]["gpu_worker"]
        assert workers["min_workers"] == 0 < workers["max_workers"] == cfg["max_workers"]  # autoscaling GPU workers
        assert any("rayrlhf[gpu]" in c for c in cfg["setup_commands"])


def test_kuberay_manifests_have_required_fields():
    cluster = yaml.safe_load((CLUSTERS / "kuberay" / "raycluster.yaml").read_text())
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    spec = cluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    for group in spec["workerGroupSpecs"]:
        assert {"groupName", "minReplicas", "maxReplicas", "template", "rayStartParams"} <= set(group)
        assert group["minReplicas"] <= group["maxReplicas"]
    job = yaml.safe_load((CLUSTERS / "kuberay" / "rayjob.yaml").read_text())
    assert job["kind"] == "RayJob" and job["spec"]["entrypoint"].startswith("rayrlhf sweep")
    assert "headGroupSpec" in job["spec"]["rayClusterSpec"]


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes = {
        "rm_a": c.add_node(num_cpus=2, resources={"rm_node": 1}),
        "rm_b": c.add_node(num_cpus=2, resources={"rm_node": 1}),
        "rollout": c.add_node(num_cpus=1, resources={"rollout_node": 1}),
    }
    c.wait_for_nodes()
    ray.init(address=c.address)
    yield c, nodes
    ray.shutdown()
    c.shutdown()


def _cfg(*extra):
    return load_config(None, [
        "sources=[{name: heuristic, kind: python, model: 'rayrlhf.rewards.heuristics:brevity', resources: {rm_node: 1}}]",
        "rollout.resources={rollout_node: 1}", "run.placement_timeout_s=5", *extra])


def _node_of(pg, index):
    return ray.util.placement_group_table(pg)["bundles_to_node_id"][index]


def test_actors_land_where_the_config_says(cluster):
    from rayrlhf.actors import reward_actor
    from rayrlhf.placement import Placement

    c, nodes = cluster
    cfg = _cfg()
    placement = Placement(cfg)
    try:
        assert _node_of(placement.pg, placement.names.index("rollout/0")) == nodes["rollout"].node_id
        actor = reward_actor(cfg.sources[0], cfg.task, placement.strategy("reward/heuristic"))
        where = ray.get(actor.node_id.remote())
        assert where in (nodes["rm_a"].node_id, nodes["rm_b"].node_id)
        assert ray.get(actor.score.remote(["p"], ["a b"], None)) == [-2.0]
    finally:
        placement.release()


def test_missing_resources_are_named(cluster):
    from rayrlhf.placement import Placement

    with pytest.raises(RuntimeError, match=r"the cluster lacks GPU 1 \(needs 1, has 0\)"):
        Placement(_cfg("sources.0.num_gpus=1"))
    with pytest.raises(RuntimeError, match="lacks tpu_pod"):
        Placement(_cfg("sources.0.resources={tpu_pod: 1}"))


def test_removing_a_node_restarts_its_reward_actor_elsewhere(cluster):
    from rayrlhf.actors import reward_actor
    from rayrlhf.placement import Placement

    c, nodes = cluster
    cfg = _cfg()
    placement = Placement(cfg)
    actor = reward_actor(cfg.sources[0], cfg.task, placement.strategy("reward/heuristic"))
    first = ray.get(actor.node_id.remote())
    victim = next(name for name, n in nodes.items() if n.node_id == first)
    c.remove_node(nodes.pop(victim))
    assert ray.get(actor.score.remote(["p"], ["x y z"], None), timeout=120) == [-3.0]  # retried after the restart
    assert ray.get(actor.node_id.remote()) not in (first,)
    placement.release()

