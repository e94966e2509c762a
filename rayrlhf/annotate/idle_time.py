"""How long people waited for queries in the web queue (``annotation/people_...`` in the metrics rows, and the idle
share on the annotation page; docs/architecture.md, "Pipelined rounds")."""

from __future__ import annotations

from rayrlhf.annotate.paced import people_figures_of
from rayrlhf.annotate.store import QueueStore


def people_figures(store: QueueStore, iteration: int) -> dict[str, float]:
    """``annotation/people_...`` of an iteration's queries in the queue: the span from the first posted to the last
    answer, the seconds people spent on their answers (each from being shown the query to answering), and the share
    of the answering annotators' time over the span with nothing to answer (docs/architecture.md, "Pipelined rounds")."""
    conn = store.connect()
    first = conn.execute("SELECT MIN(created) FROM queries WHERE iteration = ?", (iteration,)).fetchone()[0]
    last, busy, people = conn.execute(
        "SELECT MAX(a.time), COALESCE(SUM(a.seconds), 0), COUNT(DISTINCT a.annotator) FROM answers a "
        "JOIN queries q ON q.id = a.query_id WHERE q.iteration = ?", (iteration,)).fetchone()
    span = (last - first) if first is not None and last is not None else 0.0
    return people_figures_of(span, float(busy), people)


def latest_people_figures(store: QueueStore) -> dict:
    """:func:`people_figures` of the latest iteration with queries in the queue, with its ``iteration`` ({} before
    any): the annotation page shows its idle share."""
    latest = store.connect().execute("SELECT MAX(iteration) FROM queries").fetchone()[0]
    return {} if latest is None else {"iteration": latest, **people_figures(store, latest)}
