"""Annotation queries ("best and worst of these K responses"), their ledger and the oracle backends.

Every answer is appended to ``RUN_DIR/annotations.jsonl`` and fsynced the moment the backend hands it over,
before anything else happens (:mod:`rayrlhf.durable`); a query is identified by a hash of its prompt and
responses, so a resumed run that regenerates the same responses finds the answer there and never pays for the
same label twice.

A backend implements :class:`AnnotationBackend`: ``ask(queries, record)`` hands each answer to ``record`` as it
arrives. :class:`SimulatedOracle` answers from a reward model's scores (deterministically, as in the paper,
or Plackett-Luce sampled); the web and vendor backends (:mod:`rayrlhf.annotate`) answer with people.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from rayrlhf.algorithms.labels import oracle_ranking
from rayrlhf.durable import append_jsonl, read_jsonl
from rayrlhf.seeds import derived_seed


@dataclass(frozen=True)
class Query:
    prompt: str
    responses: tuple[str, ...]
    reference: str | None = None
    conversation: str | None = field(default=None, compare=False)  # chat data: the conversation as JSON (not in the id)

    @property
    def id(self) -> str:
        return hashlib.sha256(json.dumps([self.prompt, list(self.responses)]).encode()).hexdigest()[:20]


@dataclass
class Answer:
    """``ranking`` is best-first; ``None`` when the annotator abstained."""

    query_id: str
    ranking: list[int] | None
    scores: list[float] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def best(self) -> int | None:
        return None if self.ranking is None else self.ranking[0]

    @property
    def worst(self) -> int | None:
        return None if self.ranking is None else self.ranking[-1]


Record = Callable[["Query", "Answer"], None]
ScoreFn = Callable[..., Sequence[float]]  # (prompts, responses, references, conversations=None) -> scores


class AnnotationBackend(Protocol):
    def ask(self, queries: list[Query], record: Record) -> None:
        """Hand each answer to ``record`` the moment it arrives (any order; ``record`` writes it durably before it
        returns); return when every query is answered, abstained or given up on (timed out: not paid, not
        recorded). Never blocks forever."""


class SimulatedOracle:
    """Answers from a reward model's scores: deterministic ranking or Plackett-Luce with a temperature.
    ``score`` is the oracle reward (in a run: a call to its reward actor)."""

    def __init__(self, score: ScoreFn, mode: str, temperature: float, abstain_margin: float, seed: int) -> None:
        self.score = score
        self.mode, self.temperature, self.abstain_margin, self.seed = mode, temperature, abstain_margin, seed

    def ask(self, queries: list[Query], record: Record) -> None:
        prompts = [q.prompt for q in queries for _ in q.responses]
        responses = [r for q in queries for r in q.responses]
        refs = [q.reference for q in queries for _ in q.responses]
        chats = [q.conversation for q in queries for _ in q.responses]
        flat = list(self.score(prompts, responses, None if None in refs else refs, None if None in chats else chats))
        i = 0
        for q in queries:
            scores = flat[i : i + len(q.responses)]
            i += len(q.responses)
            rng = np.random.default_rng(derived_seed(self.seed, "oracle", q.id))  # the same answer if asked again
            ranking = oracle_ranking(scores, self.mode, self.temperature, rng, self.abstain_margin)
            record(q, Answer(q.id, ranking, scores))


def ledger_answers(path: Path) -> list[dict]:
    """The answer rows of a ledger file (each has ``query_id``), without the ``asked`` rows written before asking."""
    return [row for row in read_jsonl(path) if "query_id" in row]


class AnnotationLedger:
    """Append-only record of every oracle query and answer, one fsynced line each: an ``{"event": "asked", ...}``
    line before a batch is asked (nothing is paid unless it was written: a full disk stops the run first), then one
    answer line per query, keyed by query id, the moment it arrives."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.answers: dict[str, Answer] = {}
        for row in ledger_answers(self.path):
            self.answers[row["query_id"]] = Answer(row["query_id"], row["ranking"], row.get("scores"), row.get("meta", {}))

    def asking(self, queries: list[Query], iteration: int) -> None:
        """Write (durably) that ``queries`` are about to be asked; raises before anything is paid if it cannot."""
        append_jsonl(self.path, [{"event": "asked", "iteration": iteration, "time": time.time(),
                                  "query_ids": [q.id for q in queries]}])

    def get(self, query: Query) -> Answer | None:
        return self.answers.get(query.id)

    def append(self, query: Query, answer: Answer, iteration: int) -> None:
        """Write ``answer`` durably, then index it. An answer to a query already in the ledger is refused: the
        ledger never holds a label twice."""
        if query.id in self.answers:
            raise ValueError(f"query {query.id} is already in the ledger {self.path}; a label is never recorded twice")
        if answer.query_id != query.id:
            raise ValueError(f"answer for query {answer.query_id} handed over for query {query.id}")
        row = {"query_id": query.id, "iteration": iteration, "time": time.time(), "prompt": query.prompt,
               "responses": list(query.responses), **{k: v for k, v in asdict(answer).items() if k != "query_id"}}
        append_jsonl(self.path, [row])
        self.answers[query.id] = answer

    def __len__(self) -> int:
        return len(self.answers)


def build_backend(cfg, run_root: Path, score: ScoreFn, log=print) -> AnnotationBackend:
    """The configured oracle backend (``oracle.backend``): the simulated oracle (default), people through the web
    app or a vendor (:mod:`rayrlhf.annotate`), or a class of your own (``python``: ``oracle.backend_class``
    names ``module:Class``, built with ``Class(cfg, run_dir, score)``; it implements :class:`AnnotationBackend`)."""
    o = cfg.oracle
    if o.backend == "simulated":
        return SimulatedOracle(score, o.labels, o.temperature, o.abstain_margin, cfg.run.seed)
    if o.backend == "python":
        from rayrlhf.rewards.python_fn import import_callable

        return import_callable(o.backend_class, "oracle.backend_class")(cfg, str(run_root), score)
    from rayrlhf.annotate.backend import build_backend as people_backend

    return people_backend(o, run_root, log)
