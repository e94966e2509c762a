"""Cluster files (validated against the schema Ray ships, KubeRay fields, their security settings) and multi-node
placement on a fake 3-node cluster (`ray.cluster_utils.Cluster`, several raylets on this machine)."""

import ipaddress
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import click
import jsonschema
import pytest
import ray
import yaml

from rayrlhf.config import load_config
from tests.support.paths import REPO

CLUSTERS = REPO / "clusters"
LAUNCHER_FILES = ["local.yaml", "aws.yaml", "gcp.yaml"]
CLOUD_FILES = ["aws.yaml", "gcp.yaml"]


def _launcher(name: str) -> dict:
    return yaml.safe_load((CLUSTERS / name).read_text())


def _kuberay(name: str) -> dict[str, dict]:
    """The documents of a KubeRay manifest, by kind."""
    docs = [d for d in yaml.safe_load_all((CLUSTERS / "kuberay" / name).read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), f"{name}: two documents of one kind"
    return by_kind


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_cluster_launcher_files_validate(name):
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    cfg = _launcher(name)
    jsonschema.validate(cfg, schema)
    if name != "local.yaml":
        workers = cfg["available_node_types"]["gpu_worker"]
        assert workers["min_workers"] == 0 < workers["max_workers"] == cfg["max_workers"]  # autoscaling GPU workers
        assert any("rayrlhf[gpu]" in c for c in cfg["setup_commands"])


def _ray_starts(commands: list[str]) -> list[tuple[dict, click.Context]]:
    """Each `ray start` in a list of shell commands: its environment assignments and Ray's own parse of its flags."""
    from ray.scripts.scripts import start

    found = []
    for command in commands:
        for segment in re.split(r";|&&", command):
            words = shlex.split(segment)
            at = next((i for i, w in enumerate(words[:-1]) if Path(w).name == "ray" and words[i + 1] == "start"), None)
            if at is None:
                continue
            env = dict(w.split("=", 1) for w in words[:at])
            found.append((env, start.make_context("start", words[at + 2:])))
    return found


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_dashboard_is_bound_to_loopback(name):
    """The dashboard and its Jobs API run any code they are sent: the head binds them to loopback, explicitly."""
    (env, head), = _ray_starts(_launcher(name)["head_start_ray_commands"])
    assert head.params["head"]
    assert head.get_parameter_source("dashboard_host") == click.core.ParameterSource.COMMANDLINE, "bind it explicitly"
    assert ipaddress.ip_address(head.params["dashboard_host"]).is_loopback


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_turns_token_auth_on_everywhere(name):
    """Every node starts Ray with RAY_AUTH_MODE=token and holds the laptop's token at Ray's default path
    (~/.ray/auth_token of the ssh user), and node shells get the mode too (for `ray attach` / `ray exec`)."""
    cfg = _launcher(name)
    starts = _ray_starts(cfg["head_start_ray_commands"]) + _ray_starts(cfg["worker_start_ray_commands"])
    assert len(starts) == 2 and [ctx.params["head"] for _, ctx in starts] == [True, False]
    assert all(env.get("RAY_AUTH_MODE") == "token" for env, _ in starts)
    token_on_node = f"/home/{cfg['auth']['ssh_user']}/.ray/auth_token"
    assert cfg["file_mounts"].get(token_on_node) == "~/.ray/auth_token"  # `ray get-auth-token --generate` writes it here
    assert any("export RAY_AUTH_MODE=token" in c and ".bashrc" in c for c in cfg["initialization_commands"])


def _run_initialization(cfg: dict, home: Path) -> list[str]:
    """Run a file's initialization commands twice in bash with stub `sudo`, `dpkg`, `mountpoint` (nothing privileged
    runs); return what `sudo` was asked to do."""
    stubs = home / "stubs"
    stubs.mkdir()
    for name, body in {"sudo": 'echo "$*" >> "$SUDO_LOG"', "dpkg": "exit 0", "mountpoint": "exit 1"}.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text("t")
    env = {"PATH": f"{stubs}:{os.environ['PATH']}", "HOME": str(home), "SUDO_LOG": str(home / "sudo.log")}
    for _ in range(2):  # `ray up` reruns them on a restarted cluster
        for command in cfg["initialization_commands"]:
            subprocess.run(["bash", "-c", command], env=env, check=True, timeout=30)
    return (home / "sudo.log").read_text().splitlines() if (home / "sudo.log").exists() else []


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_initialization_commands_run(name, tmp_path):
    sudo = _run_initialization(_launcher(name), tmp_path)
    assert (tmp_path / ".bashrc").read_text().splitlines().count("export RAY_AUTH_MODE=token") == 1  # idempotent
    assert oct((tmp_path / ".ray" / "auth_token").stat().st_mode & 0o777) == "0o600"
    if name == "local.yaml":
        assert sudo == []


@pytest.mark.parametrize("name", CLOUD_FILES)
def test_cloud_files_put_run_directories_on_a_shared_mount(name, tmp_path):
    """Run directories must be on a file system every node mounts (the rollout engine loads weights from files in it);
    an object-store URL would become a local folder named `s3:` that `ray down` deletes."""
    text = (CLUSTERS / name).read_text()
    output_dirs = re.findall(r"run\.output_dir=(\S+)", text)
    assert output_dirs and not [d for d in output_dirs if "://" in d], output_dirs
    mounts = [line.split() for line in _run_initialization(_launcher(name), tmp_path) if line.startswith("mount ")]
    assert len(mounts) == 2  # once per run: the stub `mountpoint` says "not mounted"
    mount_point = Path(mounts[0][-1])
    assert mounts[0][1:3] in (["-t", "nfs4"], ["-t", "nfs"]) and ":" in mounts[0][-2]  # SERVER:/EXPORT
    assert all(Path(d).is_relative_to(mount_point) for d in output_dirs), (output_dirs, mount_point)


def test_kuberay_manifests_have_required_fields():
    cluster = _kuberay("raycluster.yaml")["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1" and cluster["kind"] == "RayCluster"
    spec = cluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    for group in spec["workerGroupSpecs"]:
        assert {"groupName", "minReplicas", "maxReplicas", "template", "rayStartParams"} <= set(group)
        assert group["minReplicas"] <= group["maxReplicas"]
    job = _kuberay("rayjob.yaml")["RayJob"]
    assert job["kind"] == "RayJob" and job["spec"]["entrypoint"].startswith("rayrlhf sweep")
    assert "headGroupSpec" in job["spec"]["rayClusterSpec"]


def _ray_cluster_spec(docs: dict) -> dict:
    return docs["RayCluster"]["spec"] if "RayCluster" in docs else docs["RayJob"]["spec"]["rayClusterSpec"]


def _pod_templates(docs: dict) -> dict[str, dict]:
    spec = _ray_cluster_spec(docs)
    templates = {"head": spec["headGroupSpec"]["template"]}
    templates |= {g["groupName"]: g["template"] for g in spec["workerGroupSpecs"]}
    if "RayJob" in docs:
        templates["submitter"] = docs["RayJob"]["spec"]["submitterPodTemplate"]
    return templates


def _assert_container_locked_down(where: str, ctx: dict | None):
    assert ctx, f"{where}: no securityContext"
    assert ctx.get("allowPrivilegeEscalation") is False, where
    assert "ALL" in ctx.get("capabilities", {}).get("drop", []), where
    assert not ctx.get("privileged"), where


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
def test_kuberay_pods_run_unprivileged(name):
    docs = _kuberay(name)
    for group, template in _pod_templates(docs).items():
        pod = template["spec"].get("securityContext", {})
        assert pod.get("runAsNonRoot") is True and pod.get("runAsUser", 0) != 0, group  # rayproject images: uid 1000
        assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault", group
        for container in template["spec"]["containers"]:
            _assert_container_locked_down(f"{group}/{container['name']}", container.get("securityContext"))
    _assert_container_locked_down("autoscaler", _ray_cluster_spec(docs)["autoscalerOptions"].get("securityContext"))


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
def test_kuberay_token_auth_is_on(name):
    assert _ray_cluster_spec(_kuberay(name)).get("authOptions") == {"mode": "token"}


ALL_PORTS = frozenset(range(1, 65536))


def _matches(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are modelled here"
    return selector.get("matchLabels", {}).items() <= labels.items()


def _reachable_ports(policy: dict, dst: dict, src: dict, same_namespace: bool) -> frozenset[int]:
    """Ports of pod ``dst`` (labels) that pod ``src`` (labels, in this namespace or another one whose labels are
    unknown) may connect to under ``policy``, by the Kubernetes NetworkPolicy rules: a pod the policy selects takes
    ingress only from the rules' peers; podSelector alone means this namespace; ports absent means all ports."""
    spec = policy["spec"]
    if not _matches(spec["podSelector"], dst) or "Ingress" not in spec.get("policyTypes", ["Ingress"]):
        return ALL_PORTS
    allowed = set()
    for rule in spec.get("ingress", []):
        def peer_matches(peer):
            assert "ipBlock" not in peer
            if "namespaceSelector" in peer:
                if peer["namespaceSelector"] != {} and not same_namespace:  # other namespaces' labels are unknown
                    return False
            elif not same_namespace:
                return False
            return _matches(peer.get("podSelector", {}), src)

        if "from" not in rule or any(peer_matches(p) for p in rule["from"]):
            ports = rule.get("ports")
            allowed |= ALL_PORTS if not ports else {p["port"] for p in ports if p.get("protocol", "TCP") == "TCP"}
    return frozenset(allowed)


OPERATOR = {"app.kubernetes.io/name": "kuberay-operator", "app.kubernetes.io/component": "kuberay-operator"}  # Helm


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
def test_kuberay_network_policy_admits_only_the_cluster(name):
    docs = _kuberay(name)
    policy = docs["NetworkPolicy"]
    templates = _pod_templates(docs)
    ray_pods = [t["metadata"]["labels"] for group, t in templates.items() if group != "submitter"]
    head_ports = {p["containerPort"] for p in templates["head"]["spec"]["containers"][0].get("ports", [])}
    assert {6379, 8265, 10001} <= head_ports or not head_ports
    for dst in ray_pods:
        for src in ray_pods:
            assert _reachable_ports(policy, dst, src, same_namespace=True) == ALL_PORTS  # GCS, object manager, workers
        assert _reachable_ports(policy, dst, {"app": "something-else"}, same_namespace=True) == frozenset()
        assert _reachable_ports(policy, dst, src, same_namespace=False) == frozenset()  # look-alike labels elsewhere
        assert _reachable_ports(policy, dst, OPERATOR, same_namespace=False) == {8265}  # job status, dashboard only
        if "submitter" in templates:
            assert _reachable_ports(policy, dst, templates["submitter"]["metadata"]["labels"], True) == {8265}


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


@pytest.mark.ray
def test_actors_land_where_the_config_says(cluster):
    from rayrlhf.core.placement import Placement
    from rayrlhf.rewards.actor import reward_actor

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


@pytest.mark.ray
def test_missing_resources_are_named(cluster):
    from rayrlhf.core.placement import Placement

    with pytest.raises(RuntimeError, match=r"the cluster lacks GPU 1 \(needs 1, has 0\)"):
        Placement(_cfg("sources.0.num_gpus=1"))
    with pytest.raises(RuntimeError, match="lacks tpu_pod"):
        Placement(_cfg("sources.0.resources={tpu_pod: 1}"))


@pytest.mark.ray
def test_removing_a_node_restarts_its_reward_actor_elsewhere(cluster):
    from rayrlhf.core.placement import Placement
    from rayrlhf.rewards.actor import reward_actor

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

