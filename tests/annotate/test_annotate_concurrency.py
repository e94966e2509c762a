"""8 simulated annotators over HTTP answer 1,000 queries with random delays while some abandon their leases:
every query ends up in the ledger exactly once, answered (and paid) once, none lost."""

import json
import os
import random
import statistics
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from rayrlhf.annotate.people import WebQueueBackend
from tests.support.annotate import AskThread, LedgerRecorder, live_server, make_queries

NUM_QUERIES, NUM_ANNOTATORS, TIMEOUT_S = 1000, 8, 1.0


class Annotator(threading.Thread):
    """Answers until the run has everything; an abandoner sometimes walks away past the timeout, then comes back
    and submits its stale answer anyway (accepted if the query is still open, else 409)."""

    def __init__(self, url: str, token: str, seed: int, abandon_p: float, done: threading.Event, deadline: float) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.rng, self.abandon_p, self.done, self.deadline = random.Random(seed), abandon_p, done, deadline
        self.accepted: list[str] = []
        self.refused = Counter()
        self.latencies: list[float] = []
        self.abandoned = 0
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.done.is_set() and time.time() < self.deadline:
            q = self.client.get("/api/next").json()["query"]
            if q is None:
                time.sleep(0.05)
                continue
            time.sleep(self.rng.uniform(0.0, 0.01))
            if self.rng.random() < self.abandon_p:
                self.abandoned += 1
                time.sleep(TIMEOUT_S + 0.3)  # the lease expires; someone else gets the query
            best, worst = self.rng.sample(range(len(q["responses"])), 2)
            body = {"query_id": q["query_id"], "skip": True} if self.rng.random() < 0.05 else \
                {"query_id": q["query_id"], "best": best, "worst": worst}
            t0 = time.perf_counter()
            r = self.client.post("/api/answer", json=body)
            if r.status_code == 200:
                self.latencies.append(time.perf_counter() - t0)
                self.accepted.append(q["query_id"])
            elif r.status_code == 409:
                self.refused[r.json()["detail"].replace(q["query_id"], "Q")] += 1
            else:
                self.errors.append(f"{r.status_code} {r.text}")
        self.client.close()


@pytest.mark.slow
def test_eight_annotators_answer_a_thousand_queries_exactly_once(tmp_path):
    queries = make_queries(NUM_QUERIES)
    backend = WebQueueBackend(tmp_path, timeout_s=TIMEOUT_S, on_timeout="requeue", undo_window_s=0.0, poll_s=0.05, max_wait_s=60)
    tokens = {f"ann{i}": backend.store.issue_token(f"ann{i}") for i in range(NUM_ANNOTATORS)}
    server = live_server(backend.store)
    record = LedgerRecorder(tmp_path)
    asking = AskThread(backend, queries, record)
    done, deadline = threading.Event(), time.time() + 150
    t0 = time.perf_counter()
    asking.start()
    people = [Annotator(server.url, tok, seed=i, abandon_p=0.03 if i < 3 else 0.0, done=done, deadline=deadline)
              for i, tok in enumerate(tokens.values())]
    for p in people:
        p.start()
    asking.join(timeout=max(1.0, deadline - time.time()))
    done.set()
    for p in people:
        p.join(timeout=10)
    elapsed = time.perf_counter() - t0
    server.stop()

    assert asking.error is None and not asking.is_alive()
    assert not [e for p in people for e in p.errors]
    lines = [json.loads(line) for line in (tmp_path / "annotations.jsonl").read_text().splitlines()]
    ids = [row["query_id"] for row in lines]
    assert len(ids) == NUM_QUERIES and set(ids) == {q.id for q in queries}  # each exactly once, none lost
    accepted = [qid for p in people for qid in p.accepted]
    assert sorted(accepted) == sorted(ids)  # every acknowledged answer is in the ledger; nothing paid twice
    who = {qid: name for name, p in zip(tokens, people, strict=True) for qid in p.accepted}
    assert all(row["meta"]["annotator"] == who[row["query_id"]] for row in lines)
    assert all(row["meta"]["seconds"] is not None and row["meta"]["seconds"] >= 0 for row in lines)
    assert len(backend.store.answers()) == NUM_QUERIES
    abandoned = sum(p.abandoned for p in people)
    assert abandoned > 0  # reassignment really happened

    latencies = sorted(x for p in people for x in p.latencies)
    report = {"queries": NUM_QUERIES, "annotators": NUM_ANNOTATORS, "seconds": round(elapsed, 1), "abandoned": abandoned,
              "refused_409": dict(sum((p.refused for p in people), Counter())),
              "answer_post_ms_median": round(1000 * statistics.median(latencies), 1),
              "answer_post_ms_p95": round(1000 * latencies[int(0.95 * len(latencies))], 1)}
    print("annotate concurrency:", json.dumps(report))
    artifacts = Path(os.environ.get("RAYRLHF_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "annotate_concurrency.json").write_text(json.dumps(report, indent=1))
