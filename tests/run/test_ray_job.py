"""`ray job submit` from the project's own install, as clusters/README.md does it against a cluster: a head started
with `ray start --head` (token authentication on, dashboard on loopback), a one-iteration `rayrlhf train` submitted
as a job with the token, and submissions without the token (or with a wrong one) refused."""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support.paths import REPO

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(1200)]

BIN = Path(sys.executable).parent  # the venv's `ray` and `rayrlhf` console scripts
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    return {**env, "RAY_USAGE_STATS_ENABLED": "0", **extra}


def http_status(url: str, token: str | None = None) -> int | None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def get_json(url: str, token: str):
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}), timeout=30) as r:
        return json.loads(r.read())


class Head:
    """A Ray head in its own temp dir and ports, run by `ray start --head --block` so that stopping it (SIGTERM to
    that process) ends only this cluster; `ray stop` would stop every Ray on the machine."""

    def __init__(self, root: Path):
        self.root = root
        self.dashboard_port = free_port()
        self.url = f"http://127.0.0.1:{self.dashboard_port}"
        home = root / "home"  # `ray get-auth-token --generate` writes $HOME/.ray/auth_token, as on a laptop
        out = subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], env=clean_env(HOME=str(home)),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        self.token_path = home / ".ray" / "auth_token"
        self.token = self.token_path.read_text().strip()
        assert self.token in out.stdout
        self.log = root / "head.log"
        ports = {f"--{name}": str(free_port()) for name in ("port", "ray-client-server-port", "dashboard-agent-listen-port",
                                                             "dashboard-agent-grpc-port", "metrics-export-port",
                                                             "runtime-env-agent-port")}
        cmd = [str(BIN / "ray"), "start", "--head", "--block", f"--temp-dir={root / 'ray'}", "--num-cpus=6",
               "--object-store-memory=300000000", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
               f"--dashboard-port={self.dashboard_port}", "--disable-usage-stats",
               *[f"{k}={v}" for k, v in ports.items()]]
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                                     env=clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_path),
                                                   RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0", HF_HUB_OFFLINE="1",
                                                   TOKENIZERS_PARALLELISM="false"))

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while http_status(f"{self.url}/api/jobs/", self.token) != 200:
            assert self.proc.poll() is None, f"ray start exited ({self.proc.returncode}):\n{self.log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"no Jobs API after {timeout_s}s:\n{self.log.read_text()[-4000:]}"
            time.sleep(1)

    def stop(self) -> None:
        try:
            family = psutil.Process(self.proc.pid).children(recursive=True)  # raylet, workers, the job's driver
        except psutil.NoSuchProcess:
            family = []
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        _, alive = psutil.wait_procs(family, timeout=30)
        for p in alive:
            p.kill()
        psutil.wait_procs(alive, timeout=30)

    def submit(self, entrypoint: list[str], env: dict, *options: str, timeout_s: float = 120):
        return subprocess.run([str(BIN / "ray"), "job", "submit", "--address", self.url, *options, "--", *entrypoint],
                              env=env, capture_output=True, text=True, timeout=timeout_s)

    def with_token(self) -> dict:
        """The client side of the README's token step: RAY_AUTH_MODE=token and the cluster's token file."""
        return clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_path))


@pytest.fixture(scope="module")
def head():
    root = Path(tempfile.mkdtemp(prefix="rrjob-", dir="/tmp"))  # short: Ray's socket paths live under it
    h = Head(root)
    try:
        h.wait_ready()
        yield h
    finally:
        h.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_dashboard_listens_on_loopback_only(head):
    listening = {c.laddr.ip for c in psutil.net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == head.dashboard_port}
    assert listening == {"127.0.0.1"}


def test_submissions_without_the_token_are_refused(head, tmp_path):
    marker = f"refused-{secrets.token_hex(4)}"
    entrypoint = ["python", "-c", f"open({str(tmp_path / marker)!r}, 'w')"]
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    no_token = head.submit(entrypoint, clean_env(HOME=str(empty_home)))
    assert no_token.returncode != 0 and "Missing authentication token" in no_token.stderr + no_token.stdout
    wrong = head.submit(entrypoint, clean_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32)))
    assert wrong.returncode != 0 and "Invalid authentication token" in wrong.stderr + wrong.stdout
    assert http_status(f"{head.url}/api/jobs/") == 401  # the raw HTTP API too
    jobs = get_json(f"{head.url}/api/jobs/", head.token)
    assert not [j for j in jobs if marker in j["entrypoint"]] and not (tmp_path / marker).exists()


def test_train_runs_as_a_job_with_the_token(head, train_config, tmp_path):
    run = tmp_path / "run"
    runtime_env = {"env_vars": {"PYTHONPATH": str(REPO), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}}
    entrypoint = [str(BIN / "rayrlhf"), "train", *train_config, "train.iterations=1", "rollout.backend=hf",
                  f"run.output_dir={run}"]
    out = head.submit(entrypoint, head.with_token(), "--submission-id", "rayrlhf-train-1",
                      "--runtime-env-json", json.dumps(runtime_env), timeout_s=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-6000:]
    job = get_json(f"{head.url}/api/jobs/rayrlhf-train-1", head.token)
    assert job["status"] == "SUCCEEDED" and job["driver_exit_code"] == 0
    # the driver joined this cluster (not a Ray of its own): its actors are in this head's state, under its job id
    actors = get_json(f"{head.url}/api/v0/actors?limit=10000&detail=1", head.token)["data"]["result"]["result"]
    assert {a["job_id"] for a in actors if "Coordinator" in a["class_name"]} == {job["job_id"]}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1]
    assert (run / "checkpoints" / "latest").read_text() == "iter_1"
    assert (run / "checkpoints" / "iter_1" / "state.json").is_file()
