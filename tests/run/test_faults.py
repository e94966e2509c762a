"""Faults end to end: each component killed mid-run, SIGTERM, a scorer that always crashes, a full disk, two
drivers, torn tails. Every run either completes or stops with a clear message, `--resume` completes it, and the
ledger shows 0 labels lost and 0 paid twice (paid labels counted at the oracle backend: tests/support/helpers.py).

CI runs the first two tests (each actor killed once; the driver killed in a routed run); the rest (`make faults`)
is marked `faults`: ~46 min on 2 cores.
"""

import itertools
import json
import os
import signal
import time
from collections import Counter

import pytest

from rayrlhf.annotate.ledger import ledger_answers
from tests.support.faults_harness import BILLING, Run, check_paid_once, finish_or_resume, resume, stopped_clearly

pytestmark = pytest.mark.ray

HF = ["rollout.backend=hf"]


def start(train_config, run_dir, *extra, **env) -> Run:
    return Run([*train_config, f"run.output_dir={run_dir}", *HF, *BILLING, *extra], run_dir, **env)


@pytest.mark.extended
def test_every_component_killed_once(train_config, tmp_path):
    """One run: the rollout engine and a reward actor die (Ray restarts them, the run goes on); a learner worker,
    then the coordinator die (the run stops; `--resume` continues). The driver's own death is
    test_routed_run_killed_then_resumed_replays_its_model_labels below (and the whole matrix, `make faults`)."""
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


def kill_once_iteration_2_is_paid(run: Run, run_dir) -> None:
    """SIGKILL the driver's process tree (a host crash) once the ledger holds a label of iteration 2."""
    from tests.support.cli import ledger

    deadline = time.time() + 600
    while not any(e["iteration"] == 2 for e in ledger(run_dir)):
        assert run.proc.poll() is None, run.proc.stderr.read()[-3000:]
        assert time.time() < deadline, "no label of iteration 2 within 600 s"
        time.sleep(0.05)
    run.kill("driver")


def replayed_and_paid_once(run_dir, before: list[dict], paid_before: list[dict]) -> list[dict]:
    """After a resume: no label paid twice, the routed rounds written before the kill replayed as written (not
    redrawn), the ledger's first answers unchanged; returns every routed round's record."""
    from rayrlhf.core.durable import read_jsonl
    from tests.support.cli import ledger

    check_paid_once(run_dir, 2)
    after = read_jsonl(run_dir / "model_labels.jsonl")
    assert after[: len(before)] == before and any(r["iteration"] == 2 for r in before)  # replayed, not redrawn
    assert ledger(run_dir)[: len(paid_before)] == paid_before
    return after


ROUTED = ["oracle.route=uncertain", "oracle.labels_per_iteration=8", "oracle.route_after=4", "oracle.spot_check=0.25",
          "oracle.model_weight=0.5", "optim.replay=last:1", "transfer.ensemble=true", "transfer.pairs=listwise"]


def test_routed_run_killed_then_resumed_replays_its_model_labels(train_config, tmp_path):
    """oracle.route=uncertain: people label 8 of 16 prompts per iteration, the label model the rest once 4 human
    labels exist. The driver is killed (SIGKILL of its process tree) once iteration 2 has paid for a label; `--resume`
    replays the routed rounds' splits and model labels from model_labels.jsonl and their answers from the ledger,
    pays no label twice, and never counts a model label as paid; iteration 2
    trains iteration 1's pairs again (optim.replay); the label model's `ensemble` arm competes in UCB; the pairs are
    Plackett-Luce factors (transfer.pairs=listwise) through Ray Data, Ray Train and the replay file."""
    from rayrlhf.core.durable import read_jsonl
    from tests.support.cli import ledger

    run_dir = tmp_path / "run"
    run = start(train_config, run_dir, *ROUTED)
    try:  # the driver dies (a host crash) once iteration 2 has paid for some labels, its round already routed
        kill_once_iteration_2_is_paid(run, run_dir)
        before, paid_before = read_jsonl(run_dir / "model_labels.jsonl"), ledger(run_dir)
        assert [json.loads(x)["iteration"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1]
        rc, err = resume(run_dir).finish()
        assert rc == 0, err[-3000:]
    finally:
        run.close()
    after = replayed_and_paid_once(run_dir, before, paid_before)
    assert len({(r["iteration"], r["round"]) for r in after}) == len(after) == 4  # 2 rounds x 2 iterations, once each
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[1]["annotation/reused"] >= sum(e["iteration"] == 2 for e in paid_before) > 0  # answered from the ledger
    paid = {e["query_id"] for e in ledger(run_dir)}
    model = [m for r in after for m in r["model"]]
    assert model and not paid & {m["query_id"] for m in model}  # a model label is never a paid one
    assert all(len(r["human"]) == 4 for r in after)  # the human quota per round, spot checks included
    assert 0 < sum(r["label_model/human_labels"] for r in rows) <= len(paid)  # answered ones (abstentions are paid too)
    assert rows[-1]["oracle_queries"] == len(paid) <= 16
    assert sum(r["label_model/model_labels"] for r in rows) == len(model)
    for key in ("brier", "ece", "accuracy", "accuracy_mean", "oracle_accuracy", "weight/judge_lm"):
        assert f"label_model/{key}" in rows[-1], key
    for r in rows:  # deterministic people: a fresh person agrees exactly where r* does
        assert r["label_model/person_accuracy_pairs"] == r["label_model/oracle_accuracy_pairs"]
        assert r["label_model/person_accuracy"] == pytest.approx(r["label_model/oracle_accuracy"], nan_ok=True)
    # every pair: people's (weight 1), the model's (oracle.model_weight) and iteration 1's again (optim.replay=last:1)
    assert rows[0]["train/pairs"] == rows[0]["train/pairs_trained"] >= 8 and rows[0]["train/replayed_pairs"] == 0
    assert rows[1]["train/replayed_pairs"] == rows[0]["train/pairs"]
    assert rows[1]["train/pairs_trained"] == rows[1]["train/pairs"] + rows[1]["train/replayed_pairs"]
    assert (run_dir / "label_model" / "iter_2.json").is_file()
    factors = json.loads((run_dir / "pairs" / "iter_1.json").read_text())  # K = 4: at most 3 factors per prompt
    assert max(len(f["more_rejected"]) for f in factors) == 2 and max(Counter(f["prompt"] for f in factors).values()) <= 3
    assert all(f["chosen"] not in f["more_rejected"] for f in factors)
    # transfer.ensemble: the label model's arm is one more UCB arm, and some prompts got its Best-of-N picks
    assert "arm/ensemble/count" in rows[-1]
    rounds = [item for i in (1, 2) for r in read_jsonl(run_dir / "rounds" / f"iter_{i}.jsonl") for item in r]
    assert any(item["arm"] == "ensemble" and any(item["transfer_mask"]) for item in rounds)


GUARANTEED = ["oracle.route=guaranteed", "oracle.labels_per_iteration=8", "oracle.route_after=2", "oracle.audit_share=0.5",
              "oracle.model_accuracy=0.55", "oracle.accuracy_confidence=0.55", "oracle.certify_unit=pair"]


def test_guaranteed_run_killed_then_resumed_replays_its_thresholds(train_config, tmp_path):
    """oracle.route=guaranteed, cut per pair: each routed round's certificate (threshold, bound, audits), split and
    the pairs each model label states are written before anyone is asked; the driver killed once iteration 2 has paid for a label, `--resume` replays them as written, pays
    no label twice, and the metrics carry the guarantee's figures."""
    from rayrlhf.core.durable import read_jsonl
    from tests.support.cli import ledger

    run_dir = tmp_path / "run"
    run = start(train_config, run_dir, *GUARANTEED)
    try:
        kill_once_iteration_2_is_paid(run, run_dir)
        before, paid_before = read_jsonl(run_dir / "model_labels.jsonl"), ledger(run_dir)
        rc, err = resume(run_dir).finish()
        assert rc == 0, err[-3000:]
    finally:
        run.close()
    after = replayed_and_paid_once(run_dir, before, paid_before)
    assert len({(r["iteration"], r["round"]) for r in after}) == len(after) == 4
    assert all(set(r["audit"]) <= {h["index"] for h in r["human"]} and r["audit"] for r in after)
    certified = [r["certificate"] for r in after if r["certificate"] is not None]
    assert certified and all(c["target"] == 0.55 and c["audited"] >= 2 and c["unit"] == "pair" for c in certified)
    assert all(m["pairs"] for r in after for m in r["model"])
    paid = {e["query_id"] for e in ledger(run_dir)}
    assert not paid & {m["query_id"] for r in after for m in r["model"]}
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["label_model/target_accuracy"] == 0.55 and "label_model/human_share" in rows[-1]
    assert sum(r["label_model/model_labels"] for r in rows) == sum(len(r["model"]) for r in after)


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
        run = kill_then_complete(run, component)
    finally:
        run.close()
    check_paid_once(run_dir, 2)


def kill_then_complete(run: Run, component: str, **env) -> Run:
    """Kill ``component``; the run completes, or stops clearly and `--resume` completes it. A killed driver's process
    is gone: `--resume` alone must complete the run. Returns the last run (to close)."""
    run.kill(component)
    if component != "driver":
        finish_or_resume(run)
        return run
    run = resume(run.run_dir, **env)
    rc, err = run.finish()
    assert rc == 0, err[-3000:]
    return run


PIPELINED = ["transfer.delay=1", "transfer.refresh_every=4"]


def wait_mid_overlap(run: Run, iteration: int) -> None:
    """Until round 3 or later of ``iteration`` is being generated, while the round before it is still being answered
    (delay 1: its queries were asked before this round's generation started; the oracle takes 0.3 s per answer)."""
    deadline = time.time() + 600
    while time.time() < deadline:
        s = run.status()
        if s.get("stage") == "generate" and s.get("iteration") == iteration and (s.get("round") or 0) >= 3:
            return
        assert run.proc.poll() is None, run.proc.stderr.read()[-3000:]
        time.sleep(0.02)
    raise AssertionError(f"iteration {iteration}'s third round was not generated within 600 s")


@pytest.mark.faults
@pytest.mark.parametrize("component", ["driver", "rollout", "sigterm"])
def test_pipelined_rounds_killed_mid_overlap(train_config, tmp_path, component):
    """transfer.delay=1: the driver (its whole process tree) or the rollout engine dies, or SIGTERM arrives, while one
    round is generated and the one before is being answered. The driver's death loses the labels in flight, not a
    paid one: `--resume` completes, nothing paid twice; the rollout engine is restarted by Ray and the run goes on (or
    stops clearly); SIGTERM stops at the next round with the open round's answers in the ledger (billed = recorded)."""
    run_dir = tmp_path / "run"
    run = start(train_config, run_dir, *PIPELINED, RAYRLHF_TEST_ORACLE_DELAY="0.3")
    try:
        wait_mid_overlap(run, 1)
        if component == "sigterm":
            run.proc.send_signal(signal.SIGTERM)
            rc, err = run.finish()
            assert rc == 143 and "stopped on SIGTERM at a safe point" in err, err[-3000:]
            bill = {json.loads(x)["query_id"] for x in (run_dir / "bill.jsonl").read_text().splitlines() if x.strip()}
            assert bill <= {e["query_id"] for e in ledger_answers(run_dir / "annotations.jsonl")}  # nothing paid lost
            run = resume(run_dir, RAYRLHF_TEST_ORACLE_DELAY="0.3")
            rc, err = run.finish()
            assert rc == 0, err[-3000:]
        else:
            run = kill_then_complete(run, component, RAYRLHF_TEST_ORACLE_DELAY="0.3")
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
