"""Reading the human labels back: preference pairs, the audit trail and the cost summary.

- ``pairs``: one ``{"prompt", "chosen", "rejected", "annotator", "query_id"}`` row per person's non-skip
  answer (chosen = their best, rejected = their worst); the file loads with
  ``datasets.load_dataset("json", data_files=...)`` and is what ``rayrlhf rewards evaluate --pairs`` reads.
- ``audit``: one row per paid answer (skips included: they cost a person's time), per timed-out abstention
  (cost 0) and per ledger entry that no person gave (the simulated oracle), with annotator, seconds, time,
  cost and whether the run recorded it.
- ``summary``: labels, skips, timeouts, total cost, seconds per label, inter-annotator agreement.
"""

from __future__ import annotations

import csv
import json
import statistics
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

from rayrlhf.annotate.ledger import ledger_answers
from rayrlhf.annotate.store import QueueStore

AUDIT_FIELDS = ["query_id", "event", "annotator", "via", "best", "worst", "ranking", "partial", "seconds", "time", "cost",
                "status", "iteration"]


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def pairs(store: QueueStore) -> list[dict]:
    out = []
    for a in store.answers():
        if a["ranking"] is None:
            continue
        q, ranking = store.get(a["query_id"]), json.loads(a["ranking"])
        out.append({"prompt": q.prompt, "chosen": q.responses[ranking[0]], "rejected": q.responses[ranking[-1]],
                    "annotator": a["annotator"], "query_id": q.id})
    return out


def write_pairs(store: QueueStore, out: Path) -> int:
    rows = pairs(store)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return len(rows)


def _ledger_rows(run_dir: Path) -> dict[str, dict]:
    return {row["query_id"]: row for row in ledger_answers(run_dir / "annotations.jsonl")}


def audit_rows(run_dir: Path, cost_per_label: float) -> list[dict]:
    store_path = run_dir / "annotation_queue.sqlite"
    ledger = _ledger_rows(run_dir)
    rows: list[dict] = []
    store = QueueStore(store_path) if store_path.is_file() else None
    queued = {q.id: q for q in store.all_queries()} if store else {}
    for a in store.answers() if store else []:
        q = queued[a["query_id"]]
        ranking = None if a["ranking"] is None else json.loads(a["ranking"])
        rows.append({"query_id": q.id, "event": "answer" if ranking else "skip", "annotator": a["annotator"], "via": a["via"],
                     "best": ranking[0] if ranking else None, "worst": ranking[-1] if ranking else None, "ranking": ranking,
                     "partial": bool(a["partial"]), "seconds": a["seconds"], "time": _iso(a["time"]), "cost": cost_per_label,
                     "status": q.status, "iteration": ledger.get(q.id, {}).get("iteration", q.iteration)})
    answered = {r["query_id"] for r in rows}
    for q in queued.values():
        if q.timed_out and q.id not in answered:
            rows.append({"query_id": q.id, "event": "timeout", "cost": 0.0, "status": q.status,
                         "iteration": ledger.get(q.id, {}).get("iteration", q.iteration)})
    for qid, row in ledger.items():
        if qid not in queued:
            ranking = row.get("ranking")
            rows.append({"query_id": qid, "event": "simulated" if ranking else "abstain",
                         "annotator": (row.get("meta") or {}).get("annotator", "simulated"), "via": "simulated",
                         "best": ranking[0] if ranking else None, "worst": ranking[-1] if ranking else None, "ranking": ranking,
                         "time": _iso(row.get("time")), "cost": 0.0, "status": "recorded", "iteration": row.get("iteration")})
    return [{k: r.get(k) for k in AUDIT_FIELDS} for r in rows]


def write_audit(rows: list[dict], out: Path, fmt: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        out.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=AUDIT_FIELDS)
        writer.writeheader()
        writer.writerows({**r, "ranking": None if r["ranking"] is None else " ".join(map(str, r["ranking"]))} for r in rows)


def _mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def summary(store: QueueStore, cost_per_label: float) -> dict:
    """Cost and quality of the human labels so far (for the run report and `rayrlhf annotate audit`)."""
    answers = store.answers()
    seconds = [a["seconds"] for a in answers if a["seconds"] is not None]
    by_query: dict[str, list[list[int]]] = {}
    for a in answers:
        if a["ranking"] is not None:
            by_query.setdefault(a["query_id"], []).append(json.loads(a["ranking"]))
    agree_best, agree_worst = [], []
    for rankings in by_query.values():
        for r1, r2 in combinations(rankings, 2):
            agree_best.append(float(r1[0] == r2[0]))
            agree_worst.append(float(r1[-1] == r2[-1]))
    timeouts = store.connect().execute(
        "SELECT COUNT(*) FROM queries q WHERE timed_out = 1 AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.query_id = q.id)").fetchone()[0]
    return {
        "labels": len(answers), "skips": sum(a["ranking"] is None for a in answers), "timeouts_abstained": timeouts,
        "annotators": len({a["annotator"] for a in answers}), "cost_per_label": cost_per_label,
        "total_cost": round(cost_per_label * len(answers), 6),
        "seconds_per_label_median": statistics.median(seconds) if seconds else None, "seconds_per_label_mean": _mean(seconds),
        "agreement_best": _mean(agree_best), "agreement_worst": _mean(agree_worst), "agreement_pairs": len(agree_best),
    }
