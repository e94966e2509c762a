"""docs/tutorial.md ("Your own task") as written: every command of its bash blocks, in order, from a folder that holds
only the repository's examples, against the servers the tutorial starts. `rayrlhf train` waits for people: a person
answers in headless Chromium through the link `rayrlhf annotate token` printed, as the tutorial says."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

from rayrlhf.annotate.ledger import ledger_answers
from tests.support.browser import Page, answer_shown_query, wait_for_app
from tests.support.cli import env as cli_env
from tests.support.paths import REPO

TUTORIAL = REPO / "docs" / "tutorial.md"
pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.vllm, pytest.mark.browser]


def tutorial_commands() -> list[str]:
    """The command lines of the tutorial's ```bash blocks, in order (comments and blank lines dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", TUTORIAL.read_text(), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, f"a tutorial server exited: {proc.communicate()[1][-2000:]}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"nothing listens on port {port} after {seconds:.0f} s")


def train_with_a_person(command: str, link: str, browser, shell_env: dict, cwd: Path) -> int:
    """Run the tutorial's `rayrlhf train` command; answer in the browser until it ends. Returns the answers given."""
    proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=shell_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    page, answered, deadline = Page(browser), 0, time.time() + 900
    try:
        wait_for_app(link.split("/?", 1)[0], proc)
        browser.get(link)
        while proc.poll() is None and time.time() < deadline:
            if answer_shown_query(page, use_keys=True):
                answered += 1
            else:
                time.sleep(0.3)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "report.md" in out.strip().splitlines()[-1], out[-1500:]
    finally:
        if proc.poll() is None:
            proc.kill()
    return answered


def test_the_tutorial_runs_as_written(browser, tmp_path):
    commands = tutorial_commands()
    (tmp_path / "examples").symlink_to(REPO / "examples")
    shell_env, servers, link, executed, answered = cli_env() | {"PWD": str(tmp_path)}, [], None, [], 0
    try:
        for command in commands:
            if command.startswith("export "):
                name, value = command.removeprefix("export ").split("=", 1)
                shell_env[name] = os.path.expandvars(value.replace("$PWD", str(tmp_path)))
            elif command.endswith("&"):
                port = int(shlex.split(command)[shlex.split(command).index("--port") + 1])
                with socket.socket() as s:
                    assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} is taken: stop what listens there"
                proc = subprocess.Popen(["bash", "-c", command.rstrip("&").strip()], cwd=tmp_path, env=shell_env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                servers.append(proc)
                wait_for_port(port, proc)
            elif command.startswith("rayrlhf train"):
                answered = train_with_a_person(command, link, browser, shell_env, tmp_path)
            elif command.startswith("kill "):
                for proc in servers:
                    proc.terminate()
                    proc.wait(timeout=30)
            else:
                out = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=shell_env, capture_output=True,
                                     text=True, timeout=1500)
                assert out.returncode == 0, f"{command}\n{out.stderr[-3000:]}"
                if command.startswith("rayrlhf annotate token"):
                    link = json.loads(out.stdout)["link"]
                if command.startswith("rayrlhf rewards evaluate"):
                    assert re.search(r"^on_topic\s+http\s", out.stdout, re.M) and re.search(r"^judge\s+judge\s", out.stdout, re.M)
            executed.append(command)
    finally:
        for proc in servers:
            if proc.poll() is None:
                proc.kill()
    assert executed == commands
    ledger = ledger_answers(tmp_path / "runs" / "own_task" / "annotations.jsonl")
    assert answered > 0 and len(ledger) == answered and all(r["meta"]["annotator"] == "ana" for r in ledger)
    report = (tmp_path / "runs" / "own_task_compare" / "report.md").read_text()
    assert "Labels to match" in report or "labels to match" in report.lower()
