"""Annotation queries ("best and worst of these K responses"), their ledger and the oracle backends.

Every query and answer is appended to ``RUN_DIR/annotations.jsonl`` (flushed and fsynced) the moment it is
answered; a query is identified by a hash of its prompt and responses, so a resumed run that regenerates
the same responses finds the answer there and never pays for the same label twice.

A backend implements :class:`AnnotationBackend`. :class:`SimulatedOracle` answers from a reward model's
scores (deterministically, as in the paper, or Plackett-Luce sampled); a human-annotation backend would
implement the same ``ask`` (slow, asynchronous, may return ``None`` for a timed-out query).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from rayrlhf.algorithms.labels import oracle_ranking


@dataclass(frozen=True)
class Query:
    prompt: str
    responses: tuple[str, ...]
    reference: str | None = None

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


class AnnotationBackend(Protocol):
    def ask(self, queries: list[Query]) -> list[Answer | None]:
        """Answers in order; ``None`` for a query that could not be answered (timeout)."""


class SimulatedOracle:
    """Answers from a reward actor's scores: deterministic ranking or Plackett-Luce with a temperature."""

    def __init__(self, reward_actor, mode: str, temperature: float, abstain_margin: float, seed: int) -> None:
        self.reward = reward_actor
        self.mode, self.temperature, self.abstain_margin = mode, temperature, abstain_margin
        self.rng = np.random.default_rng(seed)

    def ask(self, queries: list[Query]) -> list[Answer | None]:
        import ray

        prompts = [q.prompt for q in queries for _ in q.responses]
        responses = [r for q in queries for r in q.responses]
        refs = [q.reference for q in queries for _ in q.responses]
        flat = ray.get(self.reward.score.remote(prompts, responses, None if None in refs else refs))
        answers, i = [], 0
        for q in queries:
            scores = flat[i : i + len(q.responses)]
            i += len(q.responses)
            ranking = oracle_ranking(scores, self.mode, self.temperature, self.rng, self.abstain_margin)
            answers.append(Answer(q.id, ranking, scores))
        return answers


class AnnotationLedger:
    """Append-only record of every answered query, keyed by query id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.answers: dict[str, Answer] = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash mid-write: that query was not paid for twice
                    continue
                self.answers[row["query_id"]] = Answer(row["query_id"], row["ranking"], row.get("scores"), row.get("meta", {}))

    def get(self, query: Query) -> Answer | None:
        return self.answers.get(query.id)

    def append(self, query: Query, answer: Answer, iteration: int) -> None:
        row = {"query_id": query.id, "iteration": iteration, "time": time.time(), "prompt": query.prompt,
               "responses": list(query.responses), **{k: v for k, v in asdict(answer).items() if k != "query_id"}}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.answers[query.id] = answer

    def __len__(self) -> int:
        return len(self.answers)
