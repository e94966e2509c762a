"""``rayrlhf annotate import RUN_DIR FILE``: vendor labels into the queue and the ledger, all or nothing.

Reads our JSONL rows (``{"query_id", "best", "worst"}``, ``{"query_id", "ranking"}`` or ``{"query_id", "skip":
true}``, optional ``annotator`` and ``seconds``), a Label Studio JSON export, or Argilla records flattened
with ``to_list(flatten=True)``. Response numbers start at 1, in the exported (shuffled) order. Every row is
checked first (known id, a valid choice, no duplicate, not answered already); one bad row and nothing is
written, and the error names the file and each bad row. Importing the same file again is a no-op: rows the
queue already holds from the same annotator with the same answer count as already imported.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from rayrlhf.annotate.errors import AnnotateError
from rayrlhf.annotate.ledger import AnnotationLedger
from rayrlhf.annotate.people import stored_answer
from rayrlhf.annotate.ranking import check_choice, to_original
from rayrlhf.annotate.store import QueueStore
from rayrlhf.core.run_dir import RunDir

MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class LabelRow:
    where: str  # "line 3", "task 2", "record 5"
    query_id: object
    annotator: str
    best: object = None
    worst: object = None
    ranking: object = None
    skip: bool = False
    seconds: float | None = None


@dataclass(frozen=True)
class Planned:
    query_id: str
    annotator: str
    ranking: list[int] | None  # original indices
    partial: bool
    seconds: float | None


def _ls_annotator(completed_by) -> str:
    if isinstance(completed_by, dict):
        return str(completed_by.get("email") or f"label-studio-{completed_by.get('id')}")
    return f"label-studio-{completed_by}" if completed_by is not None else "vendor"


def label_studio_rows(tasks: list) -> list[LabelRow]:
    rows = []
    for t, task in enumerate(tasks, start=1):
        qid = (task.get("data") or {}).get("query_id")
        for a in task.get("annotations") or []:
            if a.get("was_cancelled"):
                continue
            picks = {r.get("from_name"): ((r.get("value") or {}).get("choices") or [None])[0] for r in a.get("result") or []}
            rows.append(LabelRow(f"task {t}", qid, _ls_annotator(a.get("completed_by")), picks.get("best"), picks.get("worst"),
                                 skip="skip" in picks, seconds=a.get("lead_time")))
    return rows


def argilla_rows(records: list) -> list[LabelRow]:
    rows = []
    for i, rec in enumerate(records, start=1):
        users = rec.get("best.responses.users") or rec.get("skip.responses.users") or []
        best, worst, skip = (rec.get(f"{q}.responses") or [] for q in ("best", "worst", "skip"))
        for u, user in enumerate(users):
            rows.append(LabelRow(f"record {i}", rec.get("id"), f"argilla-{user}", best[u] if u < len(best) else None,
                                 worst[u] if u < len(worst) else None, skip=u < len(skip) and bool(skip[u])))
    return rows


def read_label_file(path: Path) -> list[LabelRow]:
    if not path.is_file():
        raise AnnotateError(f"{path}: file not found")
    text = path.read_text()
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotateError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if items and all(isinstance(x, dict) and "annotations" in x for x in items):
            return label_studio_rows(items)
        if items and all(isinstance(x, dict) and "id" in x for x in items):
            return argilla_rows(items)
        raise AnnotateError(f"{path}: a JSON list, but neither a Label Studio export (tasks with `annotations`) nor "
                            "Argilla records (with `id`); or write JSONL rows {\"query_id\", \"best\", \"worst\"}")
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AnnotateError(f"{path}: line {n} is not JSON ({exc.msg}); nothing was imported") from None
        if not isinstance(obj, dict):
            raise AnnotateError(f"{path}: line {n} is not a JSON object; nothing was imported")
        rows.append(LabelRow(f"line {n}", obj.get("query_id"), str(obj.get("annotator") or "vendor"), obj.get("best"),
                             obj.get("worst"), obj.get("ranking"), bool(obj.get("skip", False)), obj.get("seconds")))
    return rows


def _slot(value, k: int, name: str) -> int | None:
    """A 1-based response number (int or digit string; 'response_3' too) -> 0-based display slot."""
    if value is None:
        return None
    text = str(value).removeprefix("response_") if not isinstance(value, bool) else ""
    if not text.isdigit() or not 1 <= int(text) <= k:
        raise ValueError(f"`{name}` must be a response number from 1 to {k}, got {value!r}")
    return int(text) - 1


def plan_row(row: LabelRow, store: QueueStore) -> Planned:
    if not isinstance(row.query_id, str) or store.get(row.query_id) is None:
        raise ValueError(f"unknown query id {row.query_id!r}: not in this run's queue (export it with `rayrlhf annotate export`)")
    q = store.get(row.query_id)
    k = len(q.responses)
    ranking = None
    if row.ranking is not None:
        if not isinstance(row.ranking, list):
            raise ValueError(f"`ranking` must be a list of response numbers 1..{k}, best first")
        ranking = [_slot(v, k, "ranking") for v in row.ranking]
        if sorted(ranking) != list(range(k)):
            raise ValueError(f"`ranking` must list every response number 1..{k} once, best first; got {row.ranking}")
    slots, partial = check_choice(k, _slot(row.best, k, "best"), _slot(row.worst, k, "worst"), ranking, row.skip)
    seconds = row.seconds if isinstance(row.seconds, int | float) and not isinstance(row.seconds, bool) else None
    return Planned(q.id, row.annotator, to_original(q.order, slots), partial, seconds)


def check_rows(rows: list[LabelRow], store: QueueStore, path: Path) -> tuple[list[Planned], int]:
    """(new answers, rows already imported); AnnotateError listing every bad row."""
    plans, errors, seen, already = [], [], set(), 0
    for row in rows:
        try:
            plan = plan_row(row, store)
            if (plan.query_id, plan.annotator) in seen:
                raise ValueError(f"duplicate: {plan.annotator} labels query {plan.query_id} more than once in this file")
            seen.add((plan.query_id, plan.annotator))
            earlier = {v.annotator: v for v in store.votes(plan.query_id)}
            if plan.annotator in earlier:
                if earlier[plan.annotator].ranking != plan.ranking:
                    raise ValueError(f"query {plan.query_id} already has a different answer from {plan.annotator}")
                already += 1
                continue
            if store.get(plan.query_id).status != "open":
                raise ValueError(f"query {plan.query_id} is already answered (by the web app or an earlier import); drop this row")
            plans.append(plan)
        except ValueError as exc:
            errors.append(f"{row.where}: {exc}")
    if errors:
        more = f"\n  ... and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise AnnotateError(f"{path}: {len(errors)} bad row(s); nothing was imported. Fix them and import again:\n  "
                            + "\n  ".join(errors[:MAX_ERRORS_SHOWN]) + more)
    return plans, already


def import_labels(run_dir: str | Path, path: str | Path) -> dict:
    """Check every row of ``path``, then write the answers to the queue and append them to the ledger."""
    run_dir, path = Path(run_dir), Path(path)
    store = QueueStore.existing(run_dir)
    rows = read_label_file(path)
    if not rows:
        raise AnnotateError(f"{path}: no labelled rows found; nothing was imported")
    plans, already = check_rows(rows, store, path)
    now = time.time()
    with store.write() as conn:
        for p in plans:
            conn.execute("INSERT INTO answers (query_id, annotator, ranking, partial, seconds, time, via) VALUES (?, ?, ?, ?, ?, ?, 'vendor')",
                         (p.query_id, p.annotator, None if p.ranking is None else json.dumps(p.ranking), int(p.partial), p.seconds, now))
        conn.executemany("UPDATE queries SET status = 'closed', closed_at = ? WHERE id = ?", [(now, p.query_id) for p in plans])
        conn.executemany("DELETE FROM leases WHERE query_id = ?", [(p.query_id,) for p in plans])
    ids = sorted({p.query_id for p in plans})
    ledger = AnnotationLedger(run_dir / "annotations.jsonl")
    latest = RunDir(run_dir).latest()
    fallback_iteration = (latest[1].iteration if latest else 0) + 1
    for query_id in store.claim(ids, 0.0):
        q = store.get(query_id)
        ledger.append(q.to_query(), stored_answer(store, query_id), q.iteration if q.iteration is not None else fallback_iteration)
        store.mark_recorded(query_id)
    return {"file": str(path), "answers": len(plans), "queries": len(ids), "already_imported": already,
            "still_pending": store.counts()["open"]}
