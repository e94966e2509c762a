"""A person answers a real `rayrlhf train` iteration through the page: the web backend on the built-in task, a
script that answers every query in headless Chromium with the buttons and the keyboard shortcuts, the iteration
completing, and the ledger holding each answer with the annotator's id. The run is routed (`oracle.route=uncertain`):
the person is asked only the prompts routed to people, the label model labels the rest."""

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest

from rayrlhf.annotate.ledger import ledger_answers
from tests.support.browser import Page, answer_shown_query, artifacts_dir, wait_for_app
from tests.support.cli import env, rayrlhf
from tests.support.paths import REPO

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.ray
def test_one_training_iteration_answered_by_a_person(browser, train_config, tmp_path):
    run_dir, port = tmp_path / "run", free_port()
    run_dir.mkdir()
    token = json.loads(rayrlhf("annotate", "token", str(run_dir), "--annotator", "alice", timeout=120).stdout)["token"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "rayrlhf.cli", "train", *train_config, f"run.output_dir={run_dir}", "rollout.backend=hf",
         "train.iterations=1", "oracle.backend=web", f"oracle.web.port={port}", "oracle.web.undo_window=1",
         "oracle.max_wait=300", "oracle.route=uncertain", "oracle.labels_per_iteration=8", "oracle.route_after=2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=REPO)
    page, answered, shot = Page(browser), 0, artifacts_dir(tmp_path) / "annotate_train_page.png"
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.time() + 600
        wait_for_app(url, proc)
        assert httpx.get(f"{url}/api/next", headers={"Authorization": "Bearer wrong"}).status_code == 401
        browser.get(f"{url}/?token={token}")
        while proc.poll() is None and time.time() < deadline:
            if answered == 1 and not shot.exists():
                browser.save_screenshot(str(shot))
            if answer_shown_query(page, use_keys=answered % 2 == 0):
                answered += 1
            else:
                time.sleep(0.3)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    ledger = ledger_answers(run_dir / "annotations.jsonl")
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1] and rows[0]["oracle_queries"] == len(ledger) == answered > 0
    assert all(r["meta"]["annotator"] == "alice" and r["meta"]["seconds"] > 0 and r["scores"] is None for r in ledger)
    assert shot.stat().st_size > 10_000
    routed = [json.loads(x) for x in (run_dir / "model_labels.jsonl").read_text().splitlines()]
    human = {e["query_id"] for r in routed for e in r["human"]}
    model = {e["query_id"] for r in routed for e in r["model"]}
    assert {r["query_id"] for r in ledger} <= human and model and not model & human  # asked only what was routed to people
    assert len(human) <= 8 and rows[0]["label_model/model_labels"] == len(model)
