"""The annotation queue: one SQLite file per run directory, shared by the server and the run's backend.

``RUN_DIR/annotation_queue.sqlite`` (WAL journal, ``synchronous=FULL``: an answer the server acknowledged
survives a crash) holds

- ``queries``: each query once (the id is ``Query.id``, so re-posting after a resume is a no-op), its
  shuffled display order and its status: ``open`` (wants answers) -> ``closed`` (enough answers, or abstained
  on timeout) -> ``taken`` (the run is writing it to the ledger; no more undo) -> ``recorded``;
- ``leases``: who was shown which open query, when, and until when it is theirs (``active``);
- ``answers``: every person's answer (original indices, best first; NULL = skipped), its seconds and time;
- ``annotators``: names and the SHA-256 of their tokens (never the tokens);
- ``settings``: timeout, what a timeout does, overlap and the undo window, written by the run.

Nothing stored says which response came from which source: the run posts only text.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rayrlhf.annotate.errors import AnnotateError
from rayrlhf.annotate.ranking import Vote, display_order
from rayrlhf.core.records import Query

QUEUE_FILE = "annotation_queue.sqlite"
STATUSES = ("open", "closed", "taken", "recorded")
ANNOTATOR_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL, prompt TEXT NOT NULL, responses TEXT NOT NULL, reference TEXT,
  display_order TEXT NOT NULL, origin TEXT NOT NULL, iteration INTEGER, status TEXT NOT NULL DEFAULT 'open',
  created REAL NOT NULL, closed_at REAL, timed_out INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS queries_status ON queries(status, seq);
CREATE TABLE IF NOT EXISTS leases (
  query_id TEXT NOT NULL, annotator TEXT NOT NULL, leased_at REAL NOT NULL, lease_until REAL NOT NULL,
  active INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (query_id, annotator));
CREATE INDEX IF NOT EXISTS leases_annotator ON leases(annotator);
CREATE TABLE IF NOT EXISTS answers (
  id INTEGER PRIMARY KEY AUTOINCREMENT, query_id TEXT NOT NULL, annotator TEXT NOT NULL, ranking TEXT,
  partial INTEGER NOT NULL, seconds REAL, time REAL NOT NULL, via TEXT NOT NULL, UNIQUE (query_id, annotator));
CREATE INDEX IF NOT EXISTS answers_annotator ON answers(annotator, id);
CREATE TABLE IF NOT EXISTS annotators (name TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class QueueSettings:
    timeout_s: float = 600.0  # how long one annotator holds a query
    on_timeout: str = "requeue"  # "requeue": back to the queue; "abstain": closed with the answers it has (or none)
    overlap: int = 1  # answers wanted per query
    undo_window_s: float = 10.0  # an answer can be undone this long after it was given (and the run waits as long)


@dataclass(frozen=True)
class QueuedQuery:
    id: str
    prompt: str
    responses: tuple[str, ...]
    reference: str | None
    order: list[int]
    status: str
    origin: str
    iteration: int | None
    timed_out: bool

    def to_query(self) -> Query:
        return Query(self.prompt, self.responses, self.reference)

    def shown(self) -> dict:
        """What an annotator sees: the text in display order, and nothing about where each response came from."""
        return {"query_id": self.id, "prompt": self.prompt, "responses": [self.responses[i] for i in self.order]}


def _row_to_query(row: sqlite3.Row) -> QueuedQuery:
    return QueuedQuery(row["id"], row["prompt"], tuple(json.loads(row["responses"])), row["reference"],
                       json.loads(row["display_order"]), row["status"], row["origin"], row["iteration"], bool(row["timed_out"]))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class QueueStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.connect()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)

    @classmethod
    def for_run(cls, run_dir: str | Path) -> QueueStore:
        return cls(Path(run_dir) / QUEUE_FILE)

    @classmethod
    def existing(cls, run_dir: str | Path) -> QueueStore:
        path = Path(run_dir) / QUEUE_FILE
        if not path.is_file():
            raise AnnotateError(f"{run_dir}: no annotation queue ({QUEUE_FILE}); it is made by a run with oracle.backend "
                                "web or vendor, by `rayrlhf annotate pilot`, or by `rayrlhf annotate token`")
        return cls(path)

    def connect(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections must not be shared between threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front (no deadlocks between readers turned writers)."""
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # settings -----------------------------------------------------------------------------------------------
    def settings(self) -> QueueSettings:
        rows = dict(self.connect().execute("SELECT key, value FROM settings").fetchall())
        return QueueSettings(**{k: json.loads(v) for k, v in rows.items() if k in QueueSettings.__dataclass_fields__})

    def configure(self, settings: QueueSettings) -> None:
        with self.write() as conn:
            conn.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)",
                             [(k, json.dumps(getattr(settings, k))) for k in QueueSettings.__dataclass_fields__])

    # queries ------------------------------------------------------------------------------------------------
    def post(self, queries: Sequence[Query], origin: str = "run", iteration: int | None = None) -> int:
        """Queue queries not queued before (INSERT OR IGNORE on the id); returns how many were new."""
        now = time.time()
        with self.write() as conn:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM queries").fetchone()[0]
            before = conn.total_changes
            for q in queries:
                if len(q.responses) < 2:
                    raise AnnotateError(f"query {q.id} has {len(q.responses)} response(s); a query needs 2 or more")
                seq += 1
                conn.execute(
                    "INSERT OR IGNORE INTO queries (id, seq, prompt, responses, reference, display_order, origin, iteration, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (q.id, seq, q.prompt, json.dumps(list(q.responses)), q.reference,
                     json.dumps(display_order(q.id, len(q.responses))), origin, iteration, now))
            return conn.total_changes - before

    def get(self, query_id: str, conn: sqlite3.Connection | None = None) -> QueuedQuery | None:
        row = (conn or self.connect()).execute("SELECT * FROM queries WHERE id = ?", (query_id,)).fetchone()
        return None if row is None else _row_to_query(row)

    def all_queries(self, statuses: Sequence[str] = STATUSES) -> list[QueuedQuery]:
        marks = ",".join("?" * len(statuses))
        rows = self.connect().execute(f"SELECT * FROM queries WHERE status IN ({marks}) ORDER BY seq", tuple(statuses))
        return [_row_to_query(r) for r in rows]

    def votes(self, query_id: str, conn: sqlite3.Connection | None = None) -> list[Vote]:
        rows = (conn or self.connect()).execute(
            "SELECT annotator, ranking, partial, seconds FROM answers WHERE query_id = ? ORDER BY id", (query_id,))
        return [Vote(r["annotator"], None if r["ranking"] is None else json.loads(r["ranking"]), bool(r["partial"]), r["seconds"])
                for r in rows]

    def via(self, query_id: str) -> str | None:
        rows = self.connect().execute("SELECT DISTINCT via FROM answers WHERE query_id = ? ORDER BY via", (query_id,))
        return "+".join(r[0] for r in rows) or None

    def answers(self) -> list[sqlite3.Row]:
        return self.connect().execute("SELECT * FROM answers ORDER BY id").fetchall()

    def counts(self) -> dict[str, int]:
        rows = dict(self.connect().execute("SELECT status, COUNT(*) FROM queries GROUP BY status").fetchall())
        return {s: rows.get(s, 0) for s in STATUSES}

    # the run's side: take closed queries for the ledger --------------------------------------------------------
    def claim(self, ids: Sequence[str], settle_s: float) -> list[str]:
        """Mark as ``taken`` those of ``ids`` that closed at least ``settle_s`` ago (the undo window), or that
        were taken or recorded before (a crash or a lost ledger line: record them again, never re-ask)."""
        cutoff, claimed = time.time() - settle_s, []
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            with self.write() as conn:
                rows = conn.execute(
                    f"UPDATE queries SET status = 'taken' WHERE id IN ({marks}) AND "
                    "(status IN ('taken', 'recorded') OR (status = 'closed' AND closed_at <= ?)) RETURNING id", (*chunk, cutoff))
                claimed += [r[0] for r in rows]
        return claimed

    def mark_recorded(self, query_id: str) -> None:
        with self.write() as conn:
            conn.execute("UPDATE queries SET status = 'recorded' WHERE id = ?", (query_id,))

    # annotators ---------------------------------------------------------------------------------------------
    def issue_token(self, name: str) -> str:
        """A new token for ``name`` (replacing any old one); only its hash is stored."""
        if not ANNOTATOR_NAME.fullmatch(name):
            raise AnnotateError(f"annotator name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")
        token = secrets.token_urlsafe(24)
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO annotators VALUES (?, ?, ?)", (name, token_hash(token), time.time()))
        return token

    def annotator_for(self, token: str) -> str | None:
        row = self.connect().execute("SELECT name FROM annotators WHERE token_sha256 = ?", (token_hash(token),)).fetchone()
        return None if row is None else row[0]
