"""The simulated oracle at people's pace (``oracle.pace``): its answers given by ``annotators`` simulated people who
each take ``seconds_per_label`` per answer, so a run shows the wall time and the waiting that people would see
(benchmarks/pipelined.py; docs/architecture.md, "Pipelined rounds").

Each ``ask`` joins one shared queue (rounds in flight at once are answered oldest first); the answers are the
simulated oracle's, scored when the round is asked. :func:`idle_share` is the share of the annotators' time within
an iteration's labelling (its first query asked to its last answer) in which they had nothing to answer.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from rayrlhf.annotate.backend import AnnotationBackend
from rayrlhf.core.records import Answer, Query, Record


class Answering(Protocol):
    """A backend that answers at once (the simulated oracle)."""

    def ask(self, queries: list[Query], record: Record) -> None: ...


def idle_share(span_s: float, busy_s: float, annotators: int) -> float:
    """Share of ``annotators`` people's time over ``span_s`` seconds not spent answering (``busy_s`` in all)."""
    if span_s <= 0 or annotators < 1:
        return 0.0
    return max(0.0, 1.0 - busy_s / (annotators * span_s))


def people_figures_of(span_s: float, busy_s: float, annotators: int) -> dict[str, float]:
    """``annotation/people_...`` of one iteration: its labelling span, the seconds spent answering, the idle share."""
    return {"people_span_s": span_s, "people_busy_s": busy_s, "people_idle_share": idle_share(span_s, busy_s, annotators)}


@dataclass
class PaceLog:
    """One iteration's labelling: when its first query was asked, its last answer given, the seconds spent answering."""

    first_asked: float | None = None
    last_answer: float | None = None
    busy_s: float = 0.0

    def figures(self, annotators: int) -> dict[str, float]:
        span = (self.last_answer - self.first_asked) if self.first_asked is not None and self.last_answer else 0.0
        return people_figures_of(span, self.busy_s, annotators)


class PacedOracle(AnnotationBackend):
    """``inner``'s answers (the simulated oracle's), each after ``seconds_per_label`` of one of ``annotators`` threads."""

    concurrent_ask = True  # rounds asked at once share the annotators' queue

    def __init__(self, inner: Answering, annotators: int, seconds_per_label: float) -> None:
        self.inner, self.annotators, self.seconds = inner, annotators, seconds_per_label
        self.logs: dict[int | None, PaceLog] = {}
        self._work: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._annotate, daemon=True, name=f"paced-annotator-{i}")
                         for i in range(annotators)]
        for t in self._threads:
            t.start()

    def ask(self, queries: list[Query], record: Record) -> None:
        if not queries:
            return
        log = self.logs.setdefault(self.iteration, PaceLog())
        with self._lock:
            log.first_asked = log.first_asked or time.monotonic()
        answers: list[tuple[Query, Answer]] = []
        self.inner.ask(queries, lambda q, a: answers.append((q, a)))  # scored now; handed over at people's pace
        done = threading.Semaphore(0)
        errors: list[BaseException] = []
        for q, a in answers:
            self._work.put((q, a, record, log, done, errors))
        for _ in answers:
            done.acquire()
        if errors:
            raise errors[0]

    def _annotate(self) -> None:
        while True:
            q, a, record, log, done, errors = self._work.get()
            start = time.monotonic()
            time.sleep(self.seconds)
            try:
                record(q, a)
            except BaseException as exc:  # handed back to the ask that queued it
                errors.append(exc)
            with self._lock:
                log.busy_s += time.monotonic() - start
                log.last_answer = time.monotonic()
            done.release()

    def iteration_figures(self, iteration: int) -> dict[str, float]:
        """``annotation/people_...`` of an iteration (nothing asked: zeros)."""
        return self.logs.get(iteration, PaceLog()).figures(self.annotators)
