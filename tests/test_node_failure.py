"""A whole run on a fake multi-node cluster survives losing the node that hosts one of its reward actors."""

import os
import threading
import time

import ray

from rayrlhf.config import load_config


def test_a_run_survives_losing_the_node_of_a_reward_actor(train_config, tmp_path):
    """A whole `rayrlhf train` on a 3-node cluster; the node hosting the `dier` source's actor is removed
    mid-run: the placement group moves that bundle to the other node, the actor restarts, the run completes."""
    from ray.cluster_utils import Cluster

    from rayrlhf.pipeline import train

    # the rollout engine (live weights) is pinned to the head and the 2-CPU learner worker cannot fit on a
    # 1-CPU spare node (losing either ends the run; `--resume` continues it); reward actors may go anywhere
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
        thread.join(timeout=600)
        assert [r["iteration"] for r in result["rows"]] == [1, 2]
    finally:
        os.environ.pop("RAYRLHF_TEST_DIE_ONCE", None)
        ray.shutdown()
        c.shutdown()
