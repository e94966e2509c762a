"""Record files after crashes: torn tails, the run lock, checkpoint pointers and retention (no Ray)."""

import json
import multiprocessing
import os

import pytest

from rayrlhf.annotate.ledger import AnnotationLedger
from rayrlhf.core.durable import CorruptFileError, append_jsonl, read_jsonl
from rayrlhf.core.records import Answer, Query
from rayrlhf.core.run_dir import ResumeState, RunDir, RunDirError


def test_a_torn_tail_is_set_aside_not_glued_to_the_next_record(tmp_path, caplog):
    path = tmp_path / "annotations.jsonl"
    append_jsonl(path, [{"query_id": "a", "n": 1}])
    with path.open("a") as f:
        f.write('{"query_id": "b", "ranki')  # a crash mid-write (full disk, power loss)
    assert [r["query_id"] for r in read_jsonl(path)] == ["a"]  # the fragment is ignored when reading
    append_jsonl(path, [{"query_id": "c", "n": 3}])
    assert [r["query_id"] for r in read_jsonl(path)] == ["a", "c"]
    assert path.read_text().count("\n") == 2
    assert '{"query_id": "b", "ranki' in (tmp_path / "annotations.jsonl.torn").read_text()
    assert "torn line" in caplog.text


def test_a_whole_record_that_only_lost_its_newline_is_kept(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"iteration": 1}\n{"iteration": 2}')
    assert [r["iteration"] for r in read_jsonl(path)] == [1, 2]
    append_jsonl(path, [{"iteration": 3}])
    assert [r["iteration"] for r in read_jsonl(path)] == [1, 2, 3]
    assert not (tmp_path / "metrics.jsonl.torn").exists()


def test_damage_in_the_middle_is_reported_with_file_and_line(tmp_path):
    path = tmp_path / "rounds.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}garbage{"a": 3}\n{"a": 4}\n')
    with pytest.raises(CorruptFileError, match=r"rounds.jsonl, line 2: not valid JSON"):
        read_jsonl(path)


def test_ledger_survives_a_torn_answer_and_never_records_a_query_twice(tmp_path):
    path = tmp_path / "annotations.jsonl"
    ledger = AnnotationLedger(path)
    q1, q2 = Query("p", ("a", "b")), Query("p", ("b", "a"))
    ledger.append(q1, Answer(q1.id, [0, 1]), iteration=1)
    with path.open("a") as f:
        f.write('{"query_id": "' + q2.id + '", "iter')
    again = AnnotationLedger(path)  # a resumed run: q1 is known, q2 was never recorded (so it was never paid)
    assert again.get(q1).ranking == [0, 1] and again.get(q2) is None
    again.append(q2, Answer(q2.id, [1, 0]), iteration=1)
    assert [r["query_id"] for r in read_jsonl(path)] == [q1.id, q2.id]
    with pytest.raises(ValueError, match="already in the ledger"):
        again.append(q1, Answer(q1.id, [1, 0]), iteration=2)


def test_a_full_disk_fails_the_write_loudly(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with pytest.raises(OSError):
        append_jsonl("/dev/full", [{"query_id": "x"}])


def _try_lock(root, queue):
    try:
        RunDir(root).lock()
        queue.put("locked")
    except RunDirError as exc:
        queue.put(str(exc))


def test_a_second_driver_on_one_run_directory_is_refused(tmp_path):
    run = RunDir(tmp_path)
    run.lock()
    queue = multiprocessing.get_context("spawn").Queue()
    p = multiprocessing.get_context("spawn").Process(target=_try_lock, args=(str(tmp_path), queue))
    p.start()
    p.join(30)
    message = queue.get(timeout=5)
    assert "is in use by pid" in message and str(os.getpid()) in message
    run.unlock()
    p = multiprocessing.get_context("spawn").Process(target=_try_lock, args=(str(tmp_path), queue))
    p.start()
    p.join(30)
    assert queue.get(timeout=5) == "locked"  # released: the next driver may go on


def _checkpoint(run: RunDir, it: int) -> None:
    run.checkpoint(it).mkdir(parents=True)
    (run.checkpoint(it) / "model.safetensors").write_bytes(b"weights")
    run.mark_complete(it, ResumeState(iteration=it), keep=2)


def test_checkpoints_are_pruned_to_the_newest_and_a_dangling_pointer_is_named(tmp_path):
    run = RunDir(tmp_path)
    for it in (1, 2, 3):
        _checkpoint(run, it)
    assert run.complete_checkpoints() == [2, 3]
    assert run.latest()[1] == ResumeState(iteration=3)
    (run.checkpoints / "latest").write_text("iter_7")
    with pytest.raises(RunDirError, match=r"names 'iter_7', which is missing or incomplete .*complete checkpoints: iter_2, iter_3"):
        run.latest()


def test_object_store_paths_are_refused_with_the_fix():
    with pytest.raises(RunDirError, match="object-store paths are not supported.*shared filesystem"):
        RunDir("s3://bucket/runs/x")


def test_resume_point_drops_rows_past_the_last_checkpoint(tmp_path):
    run = RunDir(tmp_path)
    _checkpoint(run, 1)
    for it in (1, 2):
        run.append_metrics({"iteration": it})
    assert run.resume_point() == 1
    assert [json.loads(x)["iteration"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1]
