"""Shared pieces of the annotation tests: queries with recognisable responses, a live server, a ledger."""

from __future__ import annotations

import threading
from pathlib import Path

from rayrlhf.annotate.ledger import AnnotationLedger
from rayrlhf.annotate.server import ServerThread
from rayrlhf.annotate.store import QueueStore
from rayrlhf.core.records import Query


def make_queries(n: int, k: int = 3, tag: str = "q") -> list[Query]:
    """Response j of query i reads ``{tag}{i}-r{j}``: a test maps shown text back to original indices itself."""
    return [Query(f"Summarise document {tag}{i}.", tuple(f"{tag}{i}-r{j}" for j in range(k)), f"ref {i}") for i in range(n)]


class LedgerRecorder:
    """The ``record`` callback the coordinator passes: append to a real ledger (fsynced), remember the order."""

    def __init__(self, run_dir: Path, iteration: int = 1) -> None:
        self.ledger = AnnotationLedger(Path(run_dir) / "annotations.jsonl")
        self.iteration = iteration
        self.order: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, query: Query, answer) -> None:
        with self.lock:
            assert answer.query_id == query.id
            self.ledger.append(query, answer, self.iteration)
            self.order.append(query.id)


def live_server(store: QueueStore) -> ServerThread:
    return ServerThread(store, host="127.0.0.1", port=0).start()


class AskThread(threading.Thread):
    """``backend.ask`` running as the coordinator would, keeping any exception for the test."""

    def __init__(self, backend, queries, record) -> None:
        super().__init__(daemon=True)
        self.backend, self.queries, self.record, self.error = backend, queries, record, None

    def run(self) -> None:
        try:
            self.backend.ask(self.queries, self.record)
        except BaseException as exc:  # handed to the test
            self.error = exc
