"""Autoscaling on fake nodes (`ray.cluster_utils.AutoscalingCluster`, no cloud): a run whose actors need more
CPUs than the head has, and a sweep whose concurrent trials need more workers than exist, make the autoscaler
add workers; once released, the idle workers go away."""

import threading
import time

import pytest
import ray

from rayrlhf.config import load_config

pytestmark = [pytest.mark.ray, pytest.mark.extended]


def _alive_workers():
    return sum(1 for n in ray.nodes() if n["Alive"]) - 1


# The fake provider's base config; Ray's wheel does not ship the example.yaml that AutoscalingCluster reads.
FAKE_BASE = {
    "cluster_name": "fake_multinode", "max_workers": 8, "head_node_type": "ray.head.default", "upscaling_speed": 1.0,
    "idle_timeout_minutes": 0.1,
    "provider": {"type": "fake_multinode", "use_node_id_as_ip": True, "disable_node_updaters": True,
                 "disable_launch_config_check": True},
    "docker": {}, "auth": {}, "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
    "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [], "setup_commands": [],
    "head_setup_commands": [], "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
}


@pytest.fixture
def autoscaling_cluster():
    from ray.cluster_utils import AutoscalingCluster

    class FakeCluster(AutoscalingCluster):
        def _generate_config(self, head_resources, worker_node_types, autoscaler_v2=False, **config_kwargs):
            import copy

            cfg = copy.deepcopy(FAKE_BASE)
            cfg["available_node_types"] = {**worker_node_types, "ray.head.default": {
                "resources": dict(head_resources), "node_config": {}, "max_workers": 0}}
            return {**cfg, **config_kwargs}

    c = FakeCluster(
        head_resources={"CPU": 1},
        worker_node_types={"cpu_worker": {"resources": {"CPU": 2}, "node_config": {}, "min_workers": 0, "max_workers": 4}},
        idle_timeout_minutes=0.1,
    )
    c.start()
    ray.init("auto")
    yield c
    ray.shutdown()
    c.shutdown()


def test_placement_scales_the_cluster_up_and_idle_nodes_go_away(autoscaling_cluster):
    from rayrlhf.core.placement import Placement

    assert _alive_workers() == 0
    cfg = load_config(None, [
        "sources=[{name: a, kind: python, model: 'rayrlhf.rewards.heuristics:brevity', num_cpus: 1.5},"
        " {name: b, kind: python, model: 'rayrlhf.rewards.heuristics:brevity', num_cpus: 1.5}]",
        "run.placement=spread", "run.placement_timeout_s=180"])
    placement = Placement(cfg)  # 1 (rollout) + 1.5 + 1.5 + 0.5 (oracle) CPUs: more than the head's 1
    assert _alive_workers() >= 2
    placement.release()
    assert _wait_until_idle_workers_are_gone() == 0


def _wait_until_idle_workers_are_gone(timeout=180):
    deadline = time.time() + timeout
    while _alive_workers() > 0 and time.time() < deadline:
        time.sleep(2)
    return _alive_workers()


def test_sweep_scales_the_cluster_up_and_idle_nodes_go_away(autoscaling_cluster, train_config, tmp_path):
    """Two trials at once, each needing 3.75 CPUs (rollout 0.5, sources 0.75, oracle 0.5, learner 2), on a head
    with 1 CPU: the autoscaler must add 2-CPU workers for both (one trial alone fits on head + 2 workers)."""
    from tests.support.cli import rayrlhf

    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], _alive_workers())
            time.sleep(1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    root = tmp_path / "sweep"
    try:
        out = rayrlhf("sweep", *train_config, "--grid", "optim.beta=0.05,0.3", "--max-concurrent", "2", "rollout.backend=hf",
                      "train.iterations=1", "run.ray_address=auto", "run.placement_timeout_s=300", f"run.output_dir={root}",
                      check=False)
    finally:
        done.set()
        watcher.join()
    assert out.returncode == 0, out.stderr[-4000:]
    assert "2 trial(s) at a time (more than fit now" in out.stderr
    assert (root / "sweep.md").read_text().count("| ok | 1 |") == 2
    assert peak[0] >= 3, f"the autoscaler added only {peak[0]} workers"
    assert _wait_until_idle_workers_are_gone() == 0
