"""`rayrlhf rewards serve` as a user starts it (a subprocess on a loopback port) on the built-in task's sources:
scores over HTTP equal the local ones, and a training run scored only by the server completes, pays every label
once and leaves its token nowhere (docs/rewards_service.md)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rayrlhf.config import load_config
from tests.support.cli import env, ledger, train
from tests.support.net import free_port
from tests.support.paths import REPO

TOKEN = "rr-serve-test-8c1d-not-a-real-secret"
# lm_logprob and BERTScore run the same float32 model in another process, batched differently: equal to rounding
ABS_TOL = 1e-4

pytestmark = pytest.mark.slow


class Served:
    """``rayrlhf rewards serve CONFIG OVERRIDES`` until stopped; its stderr kept for the test."""

    def __init__(self, config: list[str], tmp_path: Path, port: int | None = None) -> None:
        self.port, self.log = port or free_port(), tmp_path / f"serve-{time.monotonic_ns()}.log"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "rayrlhf.cli", "rewards", "serve", *config, "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("w"), cwd=REPO,
                                     env=env(RAYRLHF_REWARDS_TOKEN=TOKEN))
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"rewards serve exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "rewards serve did not start in 300 s"
            time.sleep(0.5)

    def scored(self) -> dict[str, int]:
        return httpx.get(f"{self.url}/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()["scored"]

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return self.log.read_text()


def test_served_builtin_sources_score_as_they_do_locally(tiny_task, tiny_overrides, tmp_path, monkeypatch):
    from rayrlhf.rewards import build_source
    from rayrlhf.task.build import resolve_model

    config = [str(REPO / "examples" / "quickstart.yaml"), *tiny_overrides]
    cfg = load_config(config[0], config[1:])
    served = Served(config, tmp_path)
    try:
        client = load_config(config[0], [*config[1:], f"run.rewards_from={served.url}"])
        monkeypatch.setenv("RAYRLHF_REWARDS_TOKEN", TOKEN)
        prompts, refs = tiny_task.split("eval")["prompt"][:6], tiny_task.split("eval")["reference"][:6]
        responses = [refs[1], prompts[0][:80], "", refs[3] + " " + refs[3], "the the the", refs[5]]
        for local_cfg, remote_cfg in [*zip(cfg.sources, client.sources, strict=True), (cfg.oracle.reward, client.oracle.reward)]:
            local = build_source(local_cfg, lambda m: resolve_model(m, cfg.task)).score(prompts, responses, refs)
            remote = build_source(remote_cfg).score(prompts, responses, refs)
            assert remote == pytest.approx(local, abs=ABS_TOL), local_cfg.name
        assert set(served.scored()) == {*(s.name for s in cfg.sources), "oracle"}
    finally:
        log = served.stop()
    assert TOKEN not in log and "token from $RAYRLHF_REWARDS_TOKEN" in log


@pytest.mark.ray
def test_a_run_scored_only_by_a_served_rewards_server(train_config, tmp_path):
    served = Served(train_config, tmp_path)
    run = tmp_path / "run"
    try:
        rows = train(train_config, run, f"run.rewards_from={served.url}", "train.iterations=1", "rollout.backend=hf",
                     cwd=tmp_path, RAYRLHF_REWARDS_TOKEN=TOKEN)
        scored = served.scored()
    finally:
        served.stop()
    last = rows[-1]
    entries = ledger(run)
    assert len(entries) == last["oracle_queries"] == len({e["query_id"] for e in entries}) > 0
    assert last["train/pairs_trained"] == last["train/pairs"] > 0
    assert all(scored[name] > 0 for name in ("judge_lm", "rouge", "dier", "oracle")), scored
    saved = load_config(run / "config.yaml")
    assert {s.kind for s in saved.sources} == {"http"} and saved.oracle.reward.kind == "http"
    assert list((run / "score_cache").glob("*.jsonl"))  # scores kept: a resume pays the server nothing twice
    leaked = [p for p in run.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaked == []  # the token is in no file of the run directory, logs included


@pytest.mark.ray
@pytest.mark.extended
def test_a_server_that_dies_mid_run_stops_it_and_resume_completes(train_config, tmp_path):
    """The server is killed as iteration 2 starts: the run stops with one line naming the source and the URL;
    `--resume` against a restarted server completes, every paid label in the ledger once (BillingOracle)."""
    from tests.support.faults_harness import BILLING, Run, check_paid_once, resume, stopped_clearly

    run_dir = tmp_path / "run"
    served = Served(train_config, tmp_path)
    run = Run([*train_config, f"run.output_dir={run_dir}", "rollout.backend=hf", *BILLING,
               f"run.rewards_from={served.url}"], run_dir, RAYRLHF_REWARDS_TOKEN=TOKEN)
    try:
        run.wait_for("generate", 2)
        served.stop()
        rc, err = run.finish()
        stopped_clearly(rc, err)
        assert f"({served.url}/v1/score/" in err and "could not be reached" in err, err[-2000:]
        served = Served(train_config, tmp_path, port=served.port)
        rc, err = resume(run_dir, RAYRLHF_REWARDS_TOKEN=TOKEN).finish()
        assert rc == 0, err[-3000:]
    finally:
        run.close()
        served.stop()
    check_paid_once(run_dir, 2)
