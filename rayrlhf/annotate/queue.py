"""What an annotator does to the queue: get the next query, answer it, undo the last answer; and lease expiry.

Every operation is one SQLite write transaction, so any number of server threads and processes (and the run's
backend, which expires leases too) can work on one queue at once. Rules:

- ``lease_next`` hands an annotator their own unanswered lease if they hold one (a reloaded page shows the
  same query), else the oldest open query they have not answered whose answers plus live leases are fewer
  than ``overlap``.
- ``submit`` accepts an answer to an open query the annotator has not answered while it still wants answers,
  even after their lease expired (late work is used, not thrown away); otherwise 404 (unknown) or 409
  (closed, or answered already). The answer that brings a query to ``overlap`` answers closes it, so a query
  is never paid beyond ``overlap`` answers. Seconds are measured by the server, from when the query was shown
  to this annotator to their answer.
- ``undo`` removes the annotator's most recent answer if it is at most ``undo_window_s`` old and the run has
  not taken the query yet; the query reopens and the annotator gets it back.
- ``expire`` ends leases older than ``timeout_s``: with ``on_timeout: requeue`` the query goes back to the
  queue; with ``abstain`` it closes with the answers it has (none: an abstention, paid to nobody).
"""

from __future__ import annotations

import json
import sqlite3
import time

from rayrlhf.annotate.errors import QueueError
from rayrlhf.annotate.ranking import check_choice, to_original
from rayrlhf.annotate.store import QueuedQuery, QueueSettings, QueueStore, _row_to_query


def expire(conn: sqlite3.Connection, settings: QueueSettings, now: float) -> int:
    """Deactivate expired leases inside the caller's transaction (kept for the seconds of a late answer)."""
    gone = conn.execute("UPDATE leases SET active = 0 WHERE active = 1 AND lease_until < ? RETURNING query_id", (now,)).fetchall()
    if settings.on_timeout == "abstain":
        for (query_id,) in {tuple(r) for r in gone}:
            conn.execute("UPDATE queries SET status = 'closed', closed_at = ?, timed_out = 1 WHERE id = ? AND status = 'open'",
                         (now, query_id))
    return len(gone)


def expire_leases(store: QueueStore) -> int:
    with store.write() as conn:
        return expire(conn, store.settings(), time.time())


def lease_next(store: QueueStore, annotator: str) -> QueuedQuery | None:
    settings, now = store.settings(), time.time()
    with store.write() as conn:
        expire(conn, settings, now)
        row = conn.execute(
            "SELECT q.* FROM leases l JOIN queries q ON q.id = l.query_id WHERE l.annotator = ? AND l.active = 1 AND q.status = 'open' "
            "ORDER BY q.seq LIMIT 1", (annotator,)).fetchone()
        if row is not None:
            return _row_to_query(row)
        row = conn.execute(
            "SELECT q.* FROM queries q WHERE q.status = 'open' "
            "AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.query_id = q.id AND a.annotator = :who) "
            "AND (SELECT COUNT(*) FROM answers a WHERE a.query_id = q.id) "
            "  + (SELECT COUNT(*) FROM leases l WHERE l.query_id = q.id AND l.active = 1) < :overlap "
            "ORDER BY q.seq LIMIT 1", {"who": annotator, "overlap": settings.overlap}).fetchone()
        if row is None:
            return None
        conn.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, 1)", (row["id"], annotator, now, now + settings.timeout_s))
        return _row_to_query(row)


def submit(store: QueueStore, annotator: str, query_id: str, best: int | None = None, worst: int | None = None,
           ranking: list[int] | None = None, skip: bool = False, via: str = "web") -> QueuedQuery:
    """Record one answer given in display slots; returns the query. QueueError (404/409/422) otherwise."""
    settings, now = store.settings(), time.time()
    with store.write() as conn:
        expire(conn, settings, now)
        q = store.get(query_id, conn)
        if q is None:
            raise QueueError(404, f"unknown query {query_id!r}")
        if q.status != "open":
            raise QueueError(409, f"query {query_id} is closed (answered by enough people or timed out); take the next one")
        if conn.execute("SELECT 1 FROM answers WHERE query_id = ? AND annotator = ?", (query_id, annotator)).fetchone():
            raise QueueError(409, f"you already answered query {query_id}")
        try:
            slots, partial = check_choice(len(q.responses), best, worst, ranking, skip)
        except ValueError as exc:
            raise QueueError(422, str(exc)) from None
        lease = conn.execute("SELECT leased_at FROM leases WHERE query_id = ? AND annotator = ?", (query_id, annotator)).fetchone()
        seconds = None if lease is None else round(now - lease[0], 3)
        original = to_original(q.order, slots)
        conn.execute("INSERT INTO answers (query_id, annotator, ranking, partial, seconds, time, via) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (query_id, annotator, None if original is None else json.dumps(original), int(partial), seconds, now, via))
        conn.execute("DELETE FROM leases WHERE query_id = ? AND annotator = ?", (query_id, annotator))
        answered = conn.execute("SELECT COUNT(*) FROM answers WHERE query_id = ?", (query_id,)).fetchone()[0]
        if answered >= settings.overlap:
            conn.execute("UPDATE queries SET status = 'closed', closed_at = ? WHERE id = ?", (now, query_id))
            conn.execute("DELETE FROM leases WHERE query_id = ?", (query_id,))
        return q


def undo(store: QueueStore, annotator: str) -> QueuedQuery:
    settings, now = store.settings(), time.time()
    with store.write() as conn:
        last = conn.execute("SELECT id, query_id, time FROM answers WHERE annotator = ? ORDER BY id DESC LIMIT 1",
                            (annotator,)).fetchone()
        if last is None:
            raise QueueError(409, "nothing to undo: you have not answered anything yet")
        q = store.get(last["query_id"], conn)
        if q.status in ("taken", "recorded"):
            raise QueueError(409, "too late to undo: the run has already recorded that answer")
        if now - last["time"] > settings.undo_window_s:
            raise QueueError(409, f"too late to undo: answers can be undone for {settings.undo_window_s:g} s")
        conn.execute("DELETE FROM answers WHERE id = ?", (last["id"],))
        conn.execute("UPDATE queries SET status = 'open', closed_at = NULL, timed_out = 0 WHERE id = ?", (q.id,))
        conn.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, 1)", (q.id, annotator, now, now + settings.timeout_s))
        return store.get(q.id, conn)


def progress(store: QueueStore, annotator: str) -> dict:
    conn = store.connect()
    mine = conn.execute("SELECT COUNT(*) FROM answers WHERE annotator = ?", (annotator,)).fetchone()[0]
    counts = store.counts()
    return {"annotator": annotator, "answered_by_you": mine, "waiting": counts["open"],
            "done": counts["closed"] + counts["taken"] + counts["recorded"], "total": sum(counts.values())}
