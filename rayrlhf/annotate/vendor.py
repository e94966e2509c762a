"""Batch files for labelling vendors: pending queries out (JSONL, Label Studio tasks, Argilla records).

Each exported query carries its id (``query_id``; the Argilla record ``id``), the key ``rayrlhf annotate
import`` matches labels on, so exporting again or re-posting a task changes nothing that was labelled.
Responses are written in the query's shuffled display order and numbered from 1, as people see them; labels
come back as those numbers (docs/annotate.md). Nothing says which response came from which source.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

from rayrlhf.annotate.store import QueuedQuery, QueueStore

FORMATS = ("jsonl", "label-studio", "argilla")
INSTRUCTIONS = ("Read the prompt and the numbered responses. Pick the best response and the worst one (or rank them "
                "all, best first), or skip if you cannot judge. Judge the text only.")


def pending_queries(store: QueueStore) -> list[QueuedQuery]:
    """Queries still waiting for an answer, oldest first."""
    return store.all_queries(("open",))


def jsonl_rows(queries: list[QueuedQuery]) -> list[dict]:
    return [{"query_id": q.id, "prompt": q.prompt, "responses": q.shown()["responses"]} for q in queries]


def label_studio_tasks(queries: list[QueuedQuery]) -> list[dict]:
    tasks = []
    for q in queries:
        data = {"query_id": q.id, "prompt": q.prompt}
        data.update({f"response_{n}": text for n, text in enumerate(q.shown()["responses"], start=1)})
        tasks.append({"data": data})
    return tasks


def label_studio_config(k: int) -> str:
    """A Label Studio labeling interface for K responses: single-choice ``best`` and ``worst``, and ``skip``."""
    texts = "\n".join(f'  <Header value="Response {n}"/>\n  <Text name="response_{n}" value="$response_{n}"/>' for n in range(1, k + 1))
    choices = "".join(f'<Choice value="{n}"/>' for n in range(1, k + 1))
    return (f"<View>\n  <Header value={quoteattr(INSTRUCTIONS)}/>\n  <Header value=\"Prompt\"/>\n  <Text name=\"prompt\" value=\"$prompt\"/>\n"
            f"{texts}\n  <Header value=\"Best response\"/>\n  <Choices name=\"best\" toName=\"prompt\" choice=\"single\">{choices}</Choices>\n"
            f"  <Header value=\"Worst response\"/>\n  <Choices name=\"worst\" toName=\"prompt\" choice=\"single\">{choices}</Choices>\n"
            "  <Choices name=\"skip\" toName=\"prompt\" choice=\"single\"><Choice value=\"skip\"/></Choices>\n</View>\n")


def argilla_records(queries: list[QueuedQuery]) -> list[dict]:
    """Records for ``dataset.records.log(records)``: the query id is the record ``id``, so logging again updates."""
    out = []
    for q in queries:
        rec = {"id": q.id, "prompt": q.prompt}
        rec.update({f"response_{n}": text for n, text in enumerate(q.shown()["responses"], start=1)})
        out.append(rec)
    return out


def export_pending(store: QueueStore, fmt: str, out: Path) -> tuple[int, list[Path]]:
    """Write the pending queries to ``out`` in ``fmt``; returns (how many, files written)."""
    if fmt not in FORMATS:
        raise ValueError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    queries = pending_queries(store)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [out]
    if fmt == "jsonl":
        out.write_text("".join(json.dumps(r) + "\n" for r in jsonl_rows(queries)))
    elif fmt == "label-studio":
        out.write_text(json.dumps(label_studio_tasks(queries), indent=1))
        ks = sorted({len(q.responses) for q in queries})
        for k in ks:
            config = out.with_name(f"{out.stem}.labeling_config{'' if len(ks) == 1 else f'_k{k}'}.xml")
            config.write_text(label_studio_config(k))
            written.append(config)
    else:
        out.write_text(json.dumps(argilla_records(queries), indent=1))
    return len(queries), written
