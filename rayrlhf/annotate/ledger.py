"""The annotation ledger, ``RUN_DIR/annotations.jsonl``: every oracle query and answer (docs/architecture.md).

Every answer is appended and fsynced the moment the backend hands it over, before anything else happens
(:mod:`rayrlhf.core.durable`); a query is identified by a hash of its prompt and responses
(:attr:`rayrlhf.core.records.Query.id`), so a resumed run that regenerates the same responses finds the answer here
and never pays for the same label twice.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from rayrlhf.core.durable import append_jsonl, read_jsonl
from rayrlhf.core.records import Answer, Query


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
            self.answers[row["query_id"]] = Answer.from_json(row)

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
               "responses": list(query.responses), **{k: v for k, v in asdict(answer).items() if k not in ("query_id", "pairs")}}
        append_jsonl(self.path, [row])
        self.answers[query.id] = answer

    def __len__(self) -> int:
        return len(self.answers)
