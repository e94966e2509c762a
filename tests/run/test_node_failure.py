"""A whole run on a fake multi-node cluster survives losing the node of a reward actor and its rollout engine's
process; a restarted rollout engine starts from the latest weights."""

import os
import signal
import threading
import time

import psutil
import pytest
import ray

from rayrlhf.config import load_config

pytestmark = [pytest.mark.ray, pytest.mark.extended]


def own_processes(cluster, title: str) -> list[psutil.Process]:
    """The processes named ``title`` that belong to ``cluster`` (descendants of its raylets), not to any other Ray on
    this machine."""
    raylets = {n.all_processes["raylet"][0].process.pid for n in [cluster.head_node, *cluster.worker_nodes]}
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if title in " ".join(p.info["cmdline"] or []) and any(a.pid in raylets for a in p.parents()):
                found.append(p)
        except psutil.Error:
            continue
    return found


def test_a_run_survives_losing_the_node_of_a_reward_actor(train_config, tmp_path):
    """A whole `rayrlhf train` on a 3-node cluster; the node hosting the `dier` source's actor is removed
    mid-run: the placement group moves that bundle to the other node, the actor restarts, the run completes."""
    from ray.cluster_utils import Cluster

    from rayrlhf.run.entry import train

    # the rollout engine is pinned to the head and the 2-CPU learner worker cannot fit on a 1-CPU spare node
    # (losing the learner's node ends the run; `--resume` continues it); reward actors may go anywhere
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 4, "resources": {"head": 1}})
    spare = {name: c.add_node(num_cpus=1, resources={"rm_node": 1}) for name in ("a", "b")}
    c.wait_for_nodes()
    ray.init(address=c.address)
    try:
        cfg = load_config(train_config[0], [*train_config[1:], "rollout.backend=hf", "train.num_workers=1", "train.cpus_per_worker=2", "run.placement=spread",
                                            "sources.2.resources={rm_node: 1}", "sources.2.num_cpus=0.5",
                                            "rollout.resources={head: 1}",
                                            f"run.output_dir={tmp_path / 'run'}"])
        os.environ["RAYRLHF_TEST_DIE_ONCE"] = str(tmp_path / "no-dying-here")
        open(tmp_path / "no-dying-here", "w").close()
        result = {}
        thread = threading.Thread(target=lambda: result.setdefault("rows", train(cfg, log=lambda m: None)))
        thread.start()
        ledger = tmp_path / "run" / "annotations.jsonl"
        while thread.is_alive() and not (ledger.exists() and ledger.stat().st_size > 0):
            time.sleep(0.2)
        # with several raylets on one machine the driver may attach to a spare node; the run's bookkeeping
        # actors live beside the driver (as on a real cluster), so remove a reward-actor node that is not it
        driver = ray.get_runtime_context().get_node_id()
        hosts = {n.node_id: name for name, n in spare.items() if n.node_id != driver}
        pgs = [pg for pg in ray.util.placement_group_table().values() if pg["state"] == "CREATED"]
        victim = next(hosts[node] for pg in pgs for node in pg["bundles_to_node_id"].values() if node in hosts)
        c.remove_node(spare[victim])
        # then the rollout engine's process dies once iteration 1's weights are out: Ray restarts the actor,
        # which starts from those weights (rollout_weights), and the call in flight is retried
        while thread.is_alive() and not (tmp_path / "run" / "checkpoints" / "latest").exists():
            time.sleep(0.2)
        engines = own_processes(c, "ray::RolloutWorker")  # this cluster's: another run or test may have its own
        assert len(engines) == 1, engines
        engines[0].send_signal(signal.SIGKILL)
        thread.join(timeout=600)
        assert [r["iteration"] for r in result["rows"]] == [1, 2]  # without a restart the run would have ended
    finally:
        os.environ.pop("RAYRLHF_TEST_DIE_ONCE", None)
        ray.shutdown()
        c.shutdown()


@pytest.mark.parametrize("backend", ["hf", pytest.param("vllm", marks=pytest.mark.vllm)])
def test_a_restarted_rollout_engine_starts_from_the_latest_weights(backend, tiny_task, tiny_config, tmp_path):
    """Kill a rollout actor after a weight update: Ray restarts it from the weights ``rollout_weights`` names
    (not the checkpoint it was created with), and it decodes exactly as HF does with those weights."""
    from rayrlhf.rollout.actor import point_weights, rollout_actor
    from tests.support.tiny_models import hf_greedy as _hf_greedy
    from tests.support.tiny_models import perturbed_copy as _perturbed_copy

    rollout = {"backend": backend, "num_cpus": 0.5, "kv_cache_gib": 0.5, "gpu_memory_utilization": 0.05}
    cfg = tiny_config.model_copy(update={"rollout": tiny_config.rollout.model_copy(update=rollout)})
    weights_file = str(tmp_path / "rollout_weights")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        actor = rollout_actor(str(tiny_task.policy_dir), cfg, weights_file=weights_file)
        new = _perturbed_copy(tiny_task.policy_dir, tmp_path / "w1", seed=1)
        point_weights(weights_file, new)
        ray.get(actor.load_weights.remote(new))
        ray.kill(actor, no_restart=False)  # the process dies; Ray restarts the actor
        prompts = tiny_task.split("eval")["prompt"][:2]
        rows = ray.get(actor.generate.remote(prompts, 1, 0.0))
        assert ray.get(actor.weights.remote()) == new
        assert [r[0]["token_ids"] for r in rows] == _hf_greedy(new, prompts, cfg.rollout.max_new_tokens)
    finally:
        ray.shutdown()
