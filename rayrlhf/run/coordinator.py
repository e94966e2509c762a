"""The coordinator: arm statistics, arm assignment in rounds, annotation routing, the label budget.

It is the only stateful actor besides the learner, and plain Python (the pipeline runs it as a Ray actor; the
tests run it directly). Within an iteration, prompts arrive in rounds of ``transfer.refresh_every``; per round,
in this order (docs/method.md steps 2-4):

1. :meth:`Coordinator.assign` gives the round its arms (uniform in the first round, UCB-argmax after);
2. :meth:`Coordinator.reserve` decides what the round asks (the ledger first, then the backend, within the
   budget) and :meth:`Coordinator.collect` asks it and returns the answers; with ``transfer.delay`` the pipeline
   collects one round while it generates the next (docs/architecture.md, "Pipelined rounds");
3. :meth:`Coordinator.record_wins` credits each prompt's arm (tie-fair :func:`transfer_credit`), which the
   next round's UCB sees.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import ray

from rayrlhf.algorithms.label_model import ENSEMBLE_ARM
from rayrlhf.algorithms.transfer import SELF_ARM, ArmStats, assign_round, self_win_rate, transfer_credit, ucb_values
from rayrlhf.annotate.backend import AnnotationBackend, require_backend
from rayrlhf.annotate.ledger import AnnotationLedger
from rayrlhf.config import Config
from rayrlhf.core.records import Answer, Query, RoundItem
from rayrlhf.core.seeds import derived_seed


def arms_for(cfg: Config) -> tuple[str, ...]:
    """The arms of ``transfer.mode``: every source (and, with ``transfer.ensemble``, the label model's
    :data:`ENSEMBLE_ARM`) and ``self`` (ucb), one of them (fixed:<name>) or ``self``."""
    mode = cfg.transfer.mode
    if mode == "none":
        return (SELF_ARM,)
    if mode.startswith("fixed:"):
        return (mode[6:],)
    return (*[s.name for s in cfg.sources], *([ENSEMBLE_ARM] if cfg.transfer.ensemble else []), SELF_ARM)


class Coordinator:
    """``backend`` answers the queries; without one, the configured backend is built here, in the coordinator's
    process (the web backend's server and queue live where the queries are asked), with ``score`` as the
    simulated oracle's reward."""

    def __init__(self, cfg: Config, run_dir: str, backend: AnnotationBackend | None = None, score=None) -> None:
        from rayrlhf.annotate.oracle import build_backend

        self.cfg = cfg
        self.arms = arms_for(cfg)
        t = cfg.transfer
        self.self_win_rate = self_win_rate(t.self_win_rate, t.num_replace, cfg.train.responses_per_prompt)
        self.backend = require_backend(backend, "Coordinator(backend=...)") if backend is not None else build_backend(
            cfg, Path(run_dir), score)
        self.ledger = AnnotationLedger(Path(run_dir) / "annotations.jsonl")
        self.iteration = 0
        self.stats = ArmStats(self.arms)
        self.carried = ArmStats(self.arms)  # transfer.carry: earlier iterations' statistics, discounted
        self.rounds = 0
        self.counters = {"asked": 0, "reused": 0, "abstained": 0, "over_budget": 0}
        self._lock = threading.Lock()  # reserve and the backend's hand-overs run on different threads (collect)
        self._in_flight: dict[str, threading.Event] = {}  # query id -> set when its round's collect is done with it
        self._tickets: dict[int, tuple[list[Query], list[Query]]] = {}  # reserved, not collected: queries, those to ask
        self._next_ticket = 0
        self._given_up: set[str] = set()  # queries of a collect that raised (the run stops): never asked again here
        # a backend asked by two rounds at once must say it can be (concurrent_ask); others are asked one at a time
        self._ask_lock = contextlib.nullcontext() if self.backend.concurrent_ask else threading.Lock()

    def start_iteration(self, iteration: int) -> None:
        """Statistics are reset every iteration: the policy changed, old win rates are stale. With
        ``transfer.carry`` the statistics so far are discounted by it and kept beside the iteration's own (UCB adds
        the two; the iteration then starts with UCB, not a uniform round). With ``transfer.delay: iteration`` the
        statistics are carried (in full unless ``transfer.carry`` discounts them): they are all an iteration's arms
        come from."""
        carry = self.cfg.transfer.carry or (1.0 if self.cfg.transfer.delay == "iteration" else 0.0)
        self.carried = self.carried.plus(self.stats).discounted(carry) if carry else ArmStats(self.arms)
        self.iteration = iteration
        self.stats = ArmStats(self.arms)
        self.rounds = 0

    def assign(self, num_prompts: int) -> list[str]:
        """Arms for the next round: uniform at random in the iteration's first round (unless statistics were
        carried in), UCB-argmax after."""
        rng = np.random.default_rng(derived_seed(self.cfg.run.seed, "arms", self.iteration, self.rounds))
        seen = self.carried.plus(self.stats)
        first = self.rounds == 0 and not any(seen.counts.values())
        self.rounds += 1
        if len(self.arms) == 1:
            return [self.arms[0]] * num_prompts
        return assign_round(num_prompts, seen, first_round=first, c=self.cfg.transfer.ucb_c, rng=rng)

    def annotate(self, items: Sequence[RoundItem]) -> list[Answer | None]:
        """The oracle's answer for each item: :meth:`reserve` then :meth:`collect` (one round, nothing in flight)."""
        return self.collect(self.reserve(items))

    def reserve(self, items: Sequence[RoundItem]) -> int:
        """Decide what a round asks and write that it is about to be asked; returns the ticket :meth:`collect` takes.
        Answers already in the ledger are reused; a query asked by a round still in flight (``transfer.delay``) is
        not asked again but waited for; each distinct query is asked at most once; the budget counts the labels in
        flight. Called in round order, so which round gets the budget's last labels never depends on timing."""
        queries = [it.query() for it in items]
        budget = self.cfg.oracle.budget
        with self._lock:
            pending = self._in_flight.keys() | self._given_up  # a failed round's queries may still be answered (imported)
            in_flight = sum(1 for qid in pending if qid not in self.ledger.answers)
            to_ask: dict[str, Query] = {}
            for q in queries:
                if self.ledger.get(q) is not None:
                    self.counters["reused"] += 1
                elif q.id in pending:
                    self.counters["reused"] += 1  # asked by a round in flight: counted as if its answer were in already
                elif q.id in to_ask:
                    continue  # the same query twice in one round: asked (and paid) once
                elif budget is not None and len(self.ledger) + in_flight + len(to_ask) >= budget:
                    self.counters["over_budget"] += 1
                else:
                    to_ask[q.id] = q
            if to_ask:
                self.ledger.asking(list(to_ask.values()), self.iteration)  # a ledger that cannot be written stops us here
                self._in_flight.update({qid: threading.Event() for qid in to_ask})
            self._next_ticket += 1
            self._tickets[self._next_ticket] = (queries, list(to_ask.values()))
            return self._next_ticket

    @ray.method(concurrency_group="annotate")
    def collect(self, ticket: int) -> list[Answer | None]:
        """Ask the reserved round's queries (the backend hands each answer to the ledger as it arrives) and return the
        answer for each item (``None``: abstained, or no budget left). Up to two rounds are collected at once (the
        actor's ``annotate`` concurrency group), so people answer the next round's queries while this one closes."""
        with self._lock:
            queries, to_ask = self._tickets.pop(ticket)
        failed = True
        try:
            if to_ask:
                self.backend.start_iteration(self.iteration)  # people backends file queries under the iteration
                with self._ask_lock:
                    self.backend.ask(to_ask, self._record)
            failed = False
        finally:
            with self._lock:
                for q in to_ask:  # answered, or given up on (timed out, or the run stopped): no longer in flight
                    self._in_flight.pop(q.id).set()
                    if failed:  # still posted (a vendor's, a queue's): it keeps its place in the budget
                        self._given_up.add(q.id)
        for q in queries:  # a query another round in flight asks: its answer (or its end) first
            if (event := self._in_flight.get(q.id)) is not None:
                event.wait()
        with self._lock:
            answers = [self.ledger.get(q) for q in queries]
            self.counters["abstained"] += sum(a is not None and a.ranking is None for a in answers)
        return [a if a is not None and a.ranking is not None else None for a in answers]

    def _record(self, query: Query, answer: Answer) -> None:
        """The backend's hand-over: the ledger writes the answer durably before anything else happens."""
        with self._lock:
            self.ledger.append(query, answer, self.iteration)
            self.counters["asked"] += 1

    def record_wins(self, items: Sequence[RoundItem], answers: Sequence[Answer | None]) -> None:
        """Credit each answered item's arm (docs/method.md step 4): a source arm with the tie-fair share of the best
        response that sits in its transfer slots, ``self`` with its bar."""
        for item, answer in zip(items, answers, strict=True):
            if answer is None:
                continue
            credit = transfer_credit(answer.best, item.transfer_mask, item.responses, answer.scores)
            self.stats.record(item.arm, credit, self.self_win_rate)

    def metrics(self) -> dict:
        ucb = ucb_values(self.carried.plus(self.stats), self.cfg.transfer.ucb_c)
        rates = self.stats.win_rates()
        out: dict[str, float | None] = {"oracle_queries": len(self.ledger)}
        for arm in self.arms:
            out[f"arm/{arm}/count"] = self.stats.counts[arm]
            out[f"arm/{arm}/win_rate"] = None if math.isnan(rates[arm]) else rates[arm]
            out[f"arm/{arm}/ucb"] = None if math.isinf(ucb[arm]) else ucb[arm]
        figures = self.counters | self.backend.iteration_figures(self.iteration)  # people's waiting, if any
        return out | {f"annotation/{k}": v for k, v in figures.items()}

    def backend_url(self) -> str | None:
        """Where people answer (the web backend's own server), if it runs one."""
        return self.backend.url

    def answers_wait_in_queue(self) -> bool:
        """Whether the backend's open queries wait for their answers when the run stops (a queue, a vendor)."""
        return self.backend.answers_wait_in_queue

    def close(self) -> None:
        """Stop what the backend runs (the web app's server)."""
        self.backend.close()

    def state(self) -> dict:
        return {"iteration": self.iteration, "stats": self.stats.to_dict(), "counters": dict(self.counters),
                "carried": self.carried.to_dict()}

    def load_state(self, state: dict) -> None:
        self.iteration = state["iteration"]
        self.stats = ArmStats.from_dict(state["stats"])
        if state.get("carried"):
            self.carried = ArmStats.from_dict(state["carried"])
        self.counters.update(state["counters"])
