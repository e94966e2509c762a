"""Annotation backends for people: the web queue (annotators answer in the browser) and vendor batches.

Both subclass :class:`~rayrlhf.annotate.backend.AnnotationBackend`: each answer goes to ``record`` (which writes the
ledger) the moment its query closes, so one slow annotator never holds the other answers back; a query
answered in the queue but missing from the ledger (a crash in between) is recorded from the queue, never
asked again. Only text is posted: nothing tells the annotators which response came from which source.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rayrlhf.annotate.backend import AnnotationBackend
from rayrlhf.annotate.errors import WaitingForLabels
from rayrlhf.annotate.idle_time import people_figures
from rayrlhf.annotate.queue import expire_leases
from rayrlhf.annotate.ranking import combine
from rayrlhf.annotate.store import QueueSettings, QueueStore
from rayrlhf.core.records import Answer, Query, Record


def stored_answer(store: QueueStore, query_id: str) -> Answer:
    """The answer a closed query carries: its people's votes combined (overlap), who gave them, how long it took.

    ``ranking`` None: everyone skipped (a paid answer without a label) or the query timed out unanswered
    (``meta.timeout``, paid to nobody)."""
    q = store.get(query_id)
    votes = store.votes(query_id)
    ranking, meta = combine(votes, len(q.responses), q.order)
    names = [v.annotator for v in votes]
    seconds = [v.seconds for v in votes]
    meta = {"annotator": "+".join(names) if names else None, "annotators": names,
            "seconds": sum(s for s in seconds if s is not None) if any(s is not None for s in seconds) else None,
            "seconds_each": seconds, "via": store.via(query_id), **meta}
    if q.timed_out:
        meta["timeout"] = True
    return Answer(query_id, ranking, None, meta)  # meta's partial becomes Answer.partial


def _record_claimed(store: QueueStore, ids: list[str], by_id: dict[str, Query], record: Record) -> None:
    for query_id in ids:
        record(by_id[query_id], stored_answer(store, query_id))
        store.mark_recorded(query_id)


def _unique(queries: list[Query]) -> dict[str, Query]:
    return {q.id: q for q in queries}


class WebQueueBackend(AnnotationBackend):
    """Queries go to ``RUN_DIR/annotation_queue.sqlite``; annotators answer them in the web app.

    ``ask`` polls the queue, expires leases older than ``timeout_s`` (requeue or abstain), records each query
    once it closed ``undo_window_s`` ago, and raises WaitingForLabels after ``max_wait_s`` without any new
    answer (the queries stay queued; `rayrlhf train --resume` picks them up). With ``serve`` it runs the web
    app itself on ``host:port`` for as long as the backend lives."""

    concurrent_ask = True  # every queue operation is its own SQLite transaction, one connection per thread
    answers_wait_in_queue = True  # a query posted when the run stops stays queued; a resume records its answer

    def __init__(self, run_dir: str | Path, timeout_s: float = 600.0, on_timeout: str = "requeue", overlap: int = 1,
                 max_wait_s: float = 3600.0, undo_window_s: float = 10.0, poll_s: float = 0.2, serve: bool = False,
                 host: str = "127.0.0.1", port: int = 8765, log: Callable[[str], None] = print) -> None:
        if on_timeout not in ("requeue", "abstain"):
            raise ValueError(f"on_timeout must be 'requeue' or 'abstain', got {on_timeout!r}")
        self.run_dir = Path(run_dir)
        self.store = QueueStore.for_run(run_dir)
        self.settings = QueueSettings(timeout_s, on_timeout, overlap, undo_window_s)
        self.store.configure(self.settings)
        self.max_wait_s, self.poll_s, self.log = max_wait_s, poll_s, log
        self.server = None
        if serve:
            from rayrlhf.annotate.server import ServerThread

            self.server = ServerThread(self.store, host, port).start()
            log(f"annotation app on {self.server.url}/?token=TOKEN (make tokens with `rayrlhf annotate token {self.run_dir} "
                "--annotator NAME`)")

    @classmethod
    def from_config(cls, oracle, run_dir: str | Path, log: Callable[[str], None] = print) -> WebQueueBackend:
        w = oracle.web
        return cls(run_dir, oracle.timeout, oracle.on_timeout, oracle.overlap, oracle.max_wait, w.undo_window, w.poll,
                   w.serve, w.host, w.port, log)

    def ask(self, queries: list[Query], record: Record) -> None:
        by_id = _unique(queries)
        if not by_id:
            return
        self.store.post(list(by_id.values()), "run", self.iteration)
        pending = set(by_id)
        last_answer = time.monotonic()
        while pending:
            expire_leases(self.store)
            claimed = self.store.claim(sorted(pending), self.settings.undo_window_s)
            _record_claimed(self.store, claimed, by_id, record)
            pending.difference_update(claimed)
            now = time.monotonic()
            if claimed:
                last_answer = now
            elif now - last_answer > self.max_wait_s:
                settled = self.store.claim(sorted(pending), 0.0)  # answers still inside their undo window count
                _record_claimed(self.store, settled, by_id, record)
                pending.difference_update(settled)
                if not pending:
                    return
                raise WaitingForLabels(len(pending), (
                    f"{len(pending)} annotation queries got no answer for {self.max_wait_s:g} s (oracle.max_wait); they stay "
                    f"queued in {self.store.path}. Serve them (`rayrlhf annotate serve {self.run_dir}`), then continue "
                    f"with `rayrlhf train --resume {self.run_dir}`"))
            if pending and not claimed:
                time.sleep(self.poll_s)

    def iteration_figures(self, iteration: int) -> dict[str, float]:
        """How long people waited for queries in ``iteration`` (:func:`people_figures`; in the metrics rows)."""
        return people_figures(self.store, iteration)

    @property
    def url(self) -> str | None:
        """The web app's address when this backend serves it (``oracle.web.serve``)."""
        return self.server.url if self.server is not None else None

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class VendorBackend(AnnotationBackend):
    """Batch labelling: queue the queries, record those already labelled, and stop the run for the rest.

    `rayrlhf annotate export RUN_DIR` writes the pending queries for the vendor, `rayrlhf annotate import
    RUN_DIR FILE` takes their labels back into the ledger, and `rayrlhf train --resume RUN_DIR` continues."""

    answers_wait_in_queue = True  # the vendor's queries stay queued when the run stops; an import records them

    def __init__(self, run_dir: str | Path, log: Callable[[str], None] = print) -> None:
        self.run_dir = Path(run_dir)
        self.store = QueueStore.for_run(run_dir)
        self.log = log

    @classmethod
    def from_config(cls, oracle, run_dir: str | Path, log: Callable[[str], None] = print) -> VendorBackend:
        return cls(run_dir, log)

    def ask(self, queries: list[Query], record: Record) -> None:
        by_id = _unique(queries)
        if not by_id:
            return
        self.store.post(list(by_id.values()), "vendor", self.iteration)
        claimed = self.store.claim(sorted(by_id), 0.0)
        _record_claimed(self.store, claimed, by_id, record)
        pending = len(by_id) - len(claimed)
        if pending:
            raise WaitingForLabels(pending, (
                f"{pending} annotation queries wait for labels. `rayrlhf annotate export {self.run_dir}` writes them for "
                f"your vendor, `rayrlhf annotate import {self.run_dir} FILE` takes the labels back, then "
                f"`rayrlhf train --resume {self.run_dir}` continues"))
