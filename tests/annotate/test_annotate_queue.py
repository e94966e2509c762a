"""Queue rules (lease, overlap, timeouts, undo, skip) and the web backend's ``ask`` against a real SQLite queue."""

import json
import time

import pytest

from rayrlhf.annotate import WaitingForLabels
from rayrlhf.annotate.errors import QueueError
from rayrlhf.annotate.people import WebQueueBackend
from rayrlhf.annotate.queue import lease_next, submit, undo
from rayrlhf.annotate.store import QueueSettings, QueueStore
from tests.support.annotate import AskThread, LedgerRecorder, make_queries


def slot_of(shown: dict, text: str) -> int:
    return shown["responses"].index(text)


def make_store(tmp_path, **settings) -> QueueStore:
    store = QueueStore.for_run(tmp_path)
    store.configure(QueueSettings(**settings))
    return store


def test_answers_map_from_shown_slots_back_to_original_indices_and_show_nothing_else(tmp_path):
    store = make_store(tmp_path)
    [q] = make_queries(1, k=4)
    store.post([q])
    shown = lease_next(store, "ann").shown()
    assert set(shown) == {"query_id", "prompt", "responses"}  # no arm, no source, no order
    assert sorted(shown["responses"]) == sorted(q.responses)
    submit(store, "ann", q.id, best=slot_of(shown, "q0-r2"), worst=slot_of(shown, "q0-r1"))
    [vote] = store.votes(q.id)
    middle = [q.responses.index(t) for t in shown["responses"] if t not in ("q0-r2", "q0-r1")]
    assert vote.ranking == [2, *middle, 1] and vote.partial
    assert store.get(q.id).status == "closed"


def test_overlap_hands_a_query_to_n_people_and_closes_it_at_n_answers(tmp_path):
    store = make_store(tmp_path, overlap=2)
    [q] = make_queries(1)
    store.post([q])
    assert lease_next(store, "a").id == q.id
    assert lease_next(store, "b").id == q.id
    assert lease_next(store, "c") is None  # two answers or leases already cover it
    assert lease_next(store, "a").id == q.id  # a reload shows the same query
    submit(store, "a", q.id, skip=True)
    with pytest.raises(QueueError) as again:
        submit(store, "a", q.id, best=0, worst=1)
    assert again.value.status == 409
    submit(store, "b", q.id, best=0, worst=2)
    with pytest.raises(QueueError) as closed:
        submit(store, "c", q.id, best=0, worst=2)
    assert closed.value.status == 409 and "closed" in closed.value.message
    assert len(store.votes(q.id)) == 2


def test_timeout_requeues_and_a_late_answer_still_counts_once(tmp_path):
    store = make_store(tmp_path, timeout_s=0.2)
    [q] = make_queries(1)
    store.post([q])
    assert lease_next(store, "slow").id == q.id
    assert lease_next(store, "fast") is None  # leased
    time.sleep(0.3)
    assert lease_next(store, "fast").id == q.id  # reassigned after the timeout
    submit(store, "slow", q.id, best=1, worst=0)  # late, but the query still wanted an answer: used
    with pytest.raises(QueueError) as closed:
        submit(store, "fast", q.id, best=0, worst=1)
    assert closed.value.status == 409
    assert [v.annotator for v in store.votes(q.id)] == ["slow"]  # paid once


def test_timeout_abstain_closes_the_query_without_a_label(tmp_path):
    backend = WebQueueBackend(tmp_path, timeout_s=0.2, on_timeout="abstain", undo_window_s=0.0, poll_s=0.02, max_wait_s=10)
    qs = make_queries(2)
    rec = LedgerRecorder(tmp_path)
    backend.store.post(qs)
    assert lease_next(backend.store, "gone").id == qs[0].id
    submit(backend.store, "ann", qs[1].id, best=0, worst=1)
    backend.ask(qs, rec)  # returns once the lease has expired: nobody else had to answer
    a0, a1 = rec.ledger.get(qs[0]), rec.ledger.get(qs[1])
    assert a0.ranking is None and a0.meta["timeout"] is True and a0.meta["annotator"] is None
    assert a1.ranking is not None and a1.meta["annotator"] == "ann"


def test_undo_reopens_the_last_answer_within_the_window_only(tmp_path):
    store = make_store(tmp_path, undo_window_s=0.5)
    qs = make_queries(2)
    store.post(qs)
    with pytest.raises(QueueError, match="nothing to undo"):
        undo(store, "ann")
    q = lease_next(store, "ann")
    submit(store, "ann", q.id, best=0, worst=1)
    back = undo(store, "ann")
    assert back.id == q.id and back.status == "open" and store.votes(q.id) == []
    assert lease_next(store, "ann").id == q.id  # the same query again, for this annotator
    submit(store, "ann", q.id, best=2, worst=0)
    time.sleep(0.6)
    with pytest.raises(QueueError, match="too late"):
        undo(store, "ann")
    # once the run has taken the query, no undo even inside the window
    store.configure(QueueSettings(undo_window_s=60))
    store.claim([q.id], 0.0)
    with pytest.raises(QueueError, match="already recorded"):
        undo(store, "ann")


def test_ask_records_each_answer_as_it_arrives_not_in_query_order(tmp_path):
    backend = WebQueueBackend(tmp_path, undo_window_s=0.0, poll_s=0.02, max_wait_s=30)
    qs = make_queries(3)
    rec = LedgerRecorder(tmp_path)
    asking = AskThread(backend, qs, rec)
    asking.start()
    deadline = time.time() + 10
    while backend.store.get(qs[2].id) is None and time.time() < deadline:
        time.sleep(0.01)
    submit(backend.store, "b", qs[2].id, skip=True)  # the last query first
    while len(rec.order) < 1 and time.time() < deadline:
        time.sleep(0.01)
    assert rec.order == [qs[2].id] and asking.is_alive()  # recorded while the others are still open
    submit(backend.store, "a", qs[0].id, best=0, worst=2)
    submit(backend.store, "a", qs[1].id, ranking=[1, 2, 0])
    asking.join(10)
    assert not asking.is_alive() and asking.error is None
    assert rec.order == [qs[2].id, qs[0].id, qs[1].id]
    skipped = rec.ledger.get(qs[2])
    assert skipped.ranking is None and skipped.meta["annotator"] == "b" and "timeout" not in skipped.meta
    full = rec.ledger.get(qs[1])
    assert full.partial is False and sorted(full.ranking) == [0, 1, 2]


def test_nobody_answering_stops_the_run_with_waiting_for_labels(tmp_path):
    backend = WebQueueBackend(tmp_path, max_wait_s=0.3, poll_s=0.02)
    qs = make_queries(3)
    submit_first = LedgerRecorder(tmp_path)
    backend.store.post(qs)
    submit(backend.store, "a", qs[0].id, best=0, worst=1)
    t0 = time.monotonic()
    with pytest.raises(WaitingForLabels) as stop:
        backend.ask(qs, submit_first)
    assert stop.value.pending_count == 2 and "--resume" in stop.value.message
    assert time.monotonic() - t0 < 5
    assert submit_first.order == [qs[0].id]  # what was answered is in the ledger before the stop
    assert backend.store.counts()["open"] == 2  # the rest stay queued


def test_a_crash_between_queue_and_ledger_records_from_the_queue_without_asking_again(tmp_path):
    qs = make_queries(3)
    first = WebQueueBackend(tmp_path, undo_window_s=0.0, poll_s=0.02, max_wait_s=0.5)
    first.store.post(qs)
    shown = [first.store.get(q.id).shown() for q in qs]
    submit(first.store, "a", qs[0].id, best=1, worst=2)
    submit(first.store, "a", qs[1].id, best=slot_of(shown[1], "q1-r2"), worst=slot_of(shown[1], "q1-r0"))
    first.store.claim([qs[1].id], 0.0)  # the run took it, then died before the ledger line was written
    # resume: a new backend and ledger; the coordinator asks again for everything missing from the ledger
    rec = LedgerRecorder(tmp_path, iteration=2)
    again = WebQueueBackend(tmp_path, undo_window_s=0.0, poll_s=0.02, max_wait_s=0.5)
    with pytest.raises(WaitingForLabels) as stop:
        again.ask(qs, rec)
    assert stop.value.pending_count == 1
    assert set(rec.order) == {qs[0].id, qs[1].id}
    assert rec.ledger.get(qs[1]).ranking[0] == 2 and rec.ledger.get(qs[1]).ranking[-1] == 0
    assert len(first.store.votes(qs[0].id)) == 1 and len(first.store.votes(qs[1].id)) == 1
    rows = [json.loads(line) for line in (tmp_path / "annotations.jsonl").read_text().splitlines()]
    assert sorted(r["query_id"] for r in rows) == sorted([qs[0].id, qs[1].id])


def test_waiting_for_labels_survives_pickling_as_ray_does():
    import pickle

    back = pickle.loads(pickle.dumps(WaitingForLabels(3, "3 queries wait")))
    assert isinstance(back, WaitingForLabels) and back.pending_count == 3 and str(back) == "3 queries wait"


def test_reposting_is_idempotent(tmp_path):
    store = make_store(tmp_path)
    qs = make_queries(4)
    assert store.post(qs[:2]) == 2
    assert store.post(qs) == 2
    assert store.counts()["open"] == 4


def test_people_figures_of_an_iteration_are_read_from_the_queue(tmp_path):
    from rayrlhf.annotate.idle_time import latest_people_figures, people_figures

    backend = WebQueueBackend(tmp_path, undo_window_s=0.0, poll_s=0.02)
    qs = make_queries(3)
    backend.store.post(qs[:2], "run", 3)
    backend.store.post(qs[2:], "run", 4)
    for who, q in (("a", qs[0]), ("b", qs[1]), ("a", qs[2])):
        lease_next(backend.store, who)
        submit(backend.store, who, q.id, best=0, worst=1)
    with backend.store.write() as conn:  # known times: posted at 100, answered at 110 (5 s) and 130 (15 s)
        conn.execute("UPDATE queries SET created = 100")
        conn.execute("UPDATE answers SET time = 110, seconds = 5 WHERE query_id = ?", (qs[0].id,))
        conn.execute("UPDATE answers SET time = 130, seconds = 15 WHERE query_id = ?", (qs[1].id,))
    # by hand: span 30 s, 20 s answering, two people -> idle 1 - 20 / 60
    assert people_figures(backend.store, 3) == {"people_span_s": 30.0, "people_busy_s": 20.0,
                                                "people_idle_share": pytest.approx(2 / 3)}
    assert latest_people_figures(backend.store)["iteration"] == 4  # the page shows the latest iteration's
    assert backend.iteration_figures(7) == {"people_span_s": 0.0, "people_busy_s": 0.0, "people_idle_share": 0.0}
