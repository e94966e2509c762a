"""Helpers for the fault tests: start `rayrlhf train` as a user would, wait for a stage, kill one component,
resume, and check the ledger against what the oracle backend was paid for (tests/support/helpers.py:BillingOracle)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

from rayrlhf.annotate.ledger import ledger_answers
from tests.support.paths import REPO

TITLES = {"coordinator": "ray::Coordinator", "reward": "ray::RewardWorker", "rollout": "ray::RolloutWorker",
          "learner": "ray::RayTrainWorker"}
BILLING = ["oracle.backend=python", "oracle.backend_class=tests.support.helpers:BillingOracle"]
#: what every process of a fault test's run sees (the oracle's delay widens the annotation window)
TEST_ENV = {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "RAYRLHF_TEST_ORACLE_DELAY": "0.05"}


class Run:
    """One `rayrlhf train` process tree (its own session), tagged so its Ray workers can be told apart from
    other runs' on the same machine."""

    def __init__(self, args: list[str], run_dir: Path, **env) -> None:
        # a cluster started by the test process carries the tag already: its raylets' workers inherit that environment
        self.tag = os.environ.get("RAYRLHF_TEST_RUN") or uuid.uuid4().hex
        self.run_dir = run_dir
        self.env = {**os.environ, **TEST_ENV, "PYTHONPATH": str(REPO), "RAYRLHF_TEST_RUN": self.tag, **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "rayrlhf.cli", "train", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=self.env, cwd=REPO, start_new_session=True)

    def status(self) -> dict:
        try:
            return json.loads((self.run_dir / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def at(self, stage: str, iteration: int | None = None) -> bool:
        if stage == "checkpoint":  # the learner has written iteration N's weights; the resume pointer is not there yet
            its = [iteration] if iteration else range(1, 20)
            ckpts = self.run_dir / "checkpoints"
            return any((ckpts / f"iter_{i}" / "config.json").is_file() and not (ckpts / f"iter_{i}" / "state.json").is_file()
                       for i in its)
        s = self.status()
        return s.get("stage") == stage and (iteration is None or s.get("iteration") == iteration)

    def wait_for(self, stage: str, iteration: int | None = None, timeout: float = 600) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.at(stage, iteration):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended (rc {self.proc.returncode}) before stage {stage}: {self.proc.stderr.read()[-3000:]}")
            time.sleep(0.02)
        raise AssertionError(f"stage {stage} (iteration {iteration}) not reached within {timeout}s; status {self.status()}")

    def processes(self, component: str) -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter(["cmdline"]):
            try:
                if TITLES[component] in " ".join(p.info["cmdline"] or []) and p.environ().get("RAYRLHF_TEST_RUN") == self.tag:
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found

    def kill(self, component: str) -> None:
        """SIGKILL the driver's whole process tree (a host crash) or one process of ``component``."""
        if component == "driver":
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(60)
            return
        victims = self.processes(component)
        assert victims, f"no {component} process of this run found"
        victims[0].send_signal(signal.SIGKILL)

    def finish(self, timeout: float = 900) -> tuple[int, str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise AssertionError(f"the run hung: no end within {timeout}s after the fault") from None
        return self.proc.returncode, err

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(60)


def resume(run_dir: Path, **env) -> Run:
    return Run(["--resume", str(run_dir)], run_dir, **env)


def check_paid_once(run_dir: Path, iterations: int) -> dict:
    """The ledger against the bill: every paid label recorded, none paid or recorded twice; the metrics series
    complete and without duplicates."""
    bill = [json.loads(x)["query_id"] for x in (run_dir / "bill.jsonl").read_text().splitlines() if x.strip()]
    ledger = [r["query_id"] for r in ledger_answers(run_dir / "annotations.jsonl")]
    paid_twice = len(bill) - len(set(bill))
    lost = len(set(bill) - set(ledger))
    assert paid_twice == 0, f"{paid_twice} labels paid twice"
    assert lost == 0, f"{lost} paid labels not in the ledger"
    assert len(ledger) == len(set(ledger)), "a label recorded twice"
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == list(range(1, iterations + 1))
    assert rows[-1]["oracle_queries"] == len(ledger)
    return {"paid": len(bill), "recorded": len(ledger)}


def stopped_clearly(rc: int, err: str) -> None:
    """A stop that names what happened and how to continue, not a bare traceback."""
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert rc != 0
    assert "--resume" in err and "Traceback" not in err.split("rayrlhf train:")[-1], err[-3000:]
    assert last, err


def finish_or_resume(run: Run) -> str:
    """Wait for ``run``: it completes, or it stops with one clear line and ``--resume`` completes it. Returns how the
    first run ended (``rc 0``, or its return code and stop message)."""
    rc, err = run.finish()
    first = (f"rc {rc}: " + err.split("rayrlhf train:")[-1].strip()[:300]) if rc else "rc 0"
    if rc != 0:
        stopped_clearly(rc, err)
        rc, err = resume(run.run_dir).finish()  # finish kills the process tree if it hangs
    assert rc == 0, err[-3000:]
    return first


def matrix_table(junit_xml: Path) -> str:
    """The README's fault matrix, from a `make faults` run's JUnit report: component x stage -> outcome; the
    node row also says how its first run ended (its ``first_run`` property)."""
    import re
    import xml.etree.ElementTree as ET

    cases, notes = {}, []
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        name = case.get("name", "")
        outcome = "fail" if case.find("failure") is not None or case.find("error") is not None else (
            "skipped" if case.find("skipped") is not None else "pass")
        cases[name] = f"{outcome} ({float(case.get('time', 0)):.0f} s)"
        for prop in case.iter("property"):
            notes.append(f"- {name}: first run {prop.get('value', '').splitlines()[0]}")
    stages = ["generate", "annotate", "train", "checkpoint"]
    rows = {c: f"test_fault_matrix[{c}-{{}}]" for c in ["driver", "coordinator", "reward", "rollout", "learner"]}
    rows["node"] = "test_node_lost[{}]"
    lines = ["| killed \\\\ during | " + " | ".join(stages) + " |", "|---|" + "---|" * len(stages)]
    for component, pattern in rows.items():
        lines.append(f"| {component} | " + " | ".join(cases.get(pattern.format(stage), "-") for stage in stages) + " |")
    others = {n: o for n, o in cases.items() if not re.match(r"test_(fault_matrix|node_lost)\[", n)}
    lines += ["", "| other fault | outcome |", "|---|---|", *[f"| {n.removeprefix('test_')} | {o} |" for n, o in others.items()]]
    return "\n".join(lines + ([""] + notes if notes else []))


if __name__ == "__main__":
    import sys

    print(matrix_table(Path(sys.argv[1])))
