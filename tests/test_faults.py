"""Faults end to end: each component killed mid-run, SIGTERM, a scorer that always crashes, a full disk, two
drivers, torn tails. Every run either completes or stops with a clear message, `--resume` completes it, and the
ledger shows 0 labels lost and 0 paid twice (paid labels counted at the oracle backend: tests/support/helpers.py).

CI runs the first test (each actor killed once; the driver's kill is tests/test_train_e2e.py); the rest (`make faults`)
is marked `faults`: ~46 min on 2 cores.
"""

import itertools
import os
import signal

import pytest

from tests.support.faults_harness import BILLING, Run, check_paid_once, finish_or_resume, resume, stopped_clearly

pytestmark = pytest.mark.ray

HF = ["rollout.backend=hf"]


def start(train_config, run_dir, *extra, **env) -> Run:
    return Run([*train_config, f"run.output_dir={run_dir}", *HF, *BILLING, *extra], run_dir, **env)


def test_every_component_killed_once(train_config, tmp_path):
    """One run: the rollout engine and a reward actor die (Ray restarts them, the run goes on); a learner worker,
    then the coordinator die (the run stops; `--resume` continues). The driver's own death is
    tests/test_train_e2e.py::test_sigkill_then_resume (and the whole matrix, `make faults`)."""
    run_dir = tmp_path / "run"
    run = start(train_config, run_dir)
    try:
        run.wait_for("generate", 1)
        run.kill("rollout")
        run.wait_for("annotate", 1)
        run.kill("reward")
        run.wait_for("train", 1)
        run.kill("learner")
        rc, err = run.finish()
        stopped_clearly(rc, err)
        assert "stage 'train'" in err and "learner" in err
        run = resume(run_dir)
        run.wait_for("annotate", 2)
        run.kill("coordinator")
        rc, err = run.finish()
        stopped_clearly(rc, err)
        assert "coordinator" in err
        run = resume(run_dir)
        rc, err = run.finish()
        assert rc == 0, err[-3000:]
    finally:
        run.close()
    check_paid_once(run_dir, 2)


@pytest.mark.faults
def test_a_scorer_that_always_crashes_stops_the_run_and_resume_completes_it(train_config, tmp_path):
    run_dir, flag = tmp_path / "run", tmp_path / "crash"
    flag.touch()
    extra = ["sources.2.model=tests.support.helpers:die_while_flag", "transfer.mode=fixed:dier", "run.max_restarts=2"]
    run = start(train_config, run_dir, *extra, RAYRLHF_TEST_DIE_FLAG=str(flag))
    rc, err = run.finish(timeout=600)  # bounded: 2 restarts, then the run stops
    stopped_clearly(rc, err)
    assert "stage 'score'" in err and "reward actor 'dier'" in err
    flag.unlink()  # the cause is fixed
    rc, err = resume(run_dir, RAYRLHF_TEST_DIE_FLAG=str(flag)).finish()
    assert rc == 0, err[-3000:]
    check_paid_once(run_dir, 2)


@pytest.mark.faults
def test_sigterm_stops_at_a_safe_point(train_config, tmp_path):
    run_dir = tmp_path / "run"
    run = start(train_config, run_dir)
    run.wait_for("annotate", 1)
    run.proc.send_signal(signal.SIGTERM)
    rc, err = run.finish()
    assert rc == 143 and "stopped on SIGTERM at a safe point" in err and "--resume" in err, err[-3000:]
    rc, err = resume(run_dir).finish()
    assert rc == 0, err[-3000:]
    check_paid_once(run_dir, 2)


@pytest.mark.faults
@pytest.mark.parametrize(("component", "stage"), list(itertools.product(
    ["driver", "coordinator", "reward", "rollout", "learner"], ["generate", "annotate", "train", "checkpoint"])))
def test_fault_matrix(train_config, tmp_path, component, stage):
    run_dir = tmp_path / "run"
    run = start(train_config, run_dir)
    try:
        run.wait_for(stage, 1)
        run.kill(component)
        if component == "driver":  # the process is gone: `--resume` alone must complete the run
            run = resume(run_dir)
            rc, err = run.finish()
            assert rc == 0, err[-3000:]
        else:
            finish_or_resume(run)
    finally:
        run.close()
    check_paid_once(run_dir, 2)


@pytest.mark.faults
def test_a_full_disk_stops_before_paying_and_resume_completes(train_config, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "annotations.jsonl").symlink_to("/dev/full")
    rc, err = start(train_config, run_dir).finish()
    stopped_clearly(rc, err)
    assert "No space left on device" in err
    assert not (run_dir / "bill.jsonl").exists()  # nothing was paid
    (run_dir / "annotations.jsonl").unlink()
    rc, err = resume(run_dir).finish()
    assert rc == 0, err[-3000:]
    check_paid_once(run_dir, 2)


@pytest.mark.faults
def test_a_second_driver_on_the_same_directory_is_refused(train_config, tmp_path):
    run_dir = tmp_path / "run"
    run = start(train_config, run_dir)
    try:
        run.wait_for("generate", 1)
        rc, err = resume(run_dir).finish(timeout=120)
        assert rc == 2 and "is in use by pid" in err, err[-2000:]
        rc, err = run.finish()
        assert rc == 0, err[-3000:]
    finally:
        run.close()
    check_paid_once(run_dir, 2)


@pytest.mark.faults
def test_torn_tails_after_a_crash(train_config, tmp_path):
    run_dir = tmp_path / "run"
    run = start(train_config, run_dir)
    run.wait_for("annotate", 2)
    run.kill("driver")
    for name in ("annotations.jsonl", "metrics.jsonl", "rounds/iter_2.jsonl"):  # a crash mid-write of each
        with open(run_dir / name, "a") as f:
            f.write('{"query_id": "torn", "ranki')
    rc, err = resume(run_dir).finish()
    assert rc == 0, err[-3000:]
    check_paid_once(run_dir, 2)
    assert os.path.exists(run_dir / "annotations.jsonl.torn")  # set aside, not glued to the next answer
