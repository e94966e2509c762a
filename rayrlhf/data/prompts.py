"""Prompt data through ``datasets``: the built-in task, local jsonl/json/parquet/csv files or hub ids.

Rows whose configured text fields are missing, empty or not text either stop the run with the row index
and field name (``on_bad_row: error``) or are skipped and counted (``on_bad_row: skip``). A local file that is
missing, empty or unreadable stops with one line naming it (and the line, for JSON lines).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rayrlhf.config import Config

LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


class DataError(ValueError):
    """A data problem: names the row, the field and the fix."""


@dataclass
class RowReport:
    total: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)  # the first few, for the message

    def summary(self) -> str:
        if not self.skipped:
            return f"{self.total} rows, none skipped"
        return f"{self.total} rows, {self.skipped} skipped (e.g. {'; '.join(self.reasons)})"


DATA_FIX = ("Fix the data, point data.prompt_field/reference_field at the right columns, or set data.on_bad_row=skip "
            "to skip and count such rows")


def row_problem(row: object, fields: Sequence[str], optional: Sequence[str] = (), conversation: str | None = None) -> str | None:
    """Why ``row`` cannot be used (first bad field), or ``None``. ``optional`` fields may be absent or null
    but must be text when given; the ``conversation`` field may hold a chat conversation instead of text."""
    if not isinstance(row, dict):
        kind = {str: "a string ", list: "a list ", bool: "a boolean "}.get(type(row), "")
        return f"is not an object with fields {list(fields)} (got {kind}{json.dumps(row, default=str)[:40]})"
    for name in fields:
        if name not in row or row[name] is None:
            return f"field '{name}' is missing"
        value = row[name]
        if name == conversation and isinstance(value, list):
            from rayrlhf.data.chat import conversation_problem

            if problem := conversation_problem(value):
                return f"field '{name}' {problem}"
            continue
        if not isinstance(value, str):
            return f"field '{name}' is not text (got {type(value).__name__})"
        if not value.strip():
            return f"field '{name}' is empty"
    for name in optional:
        if row.get(name) is not None and not isinstance(row[name], str):
            return f"field '{name}' is not text (got {type(row[name]).__name__})"
    return None


def check_rows(rows: Sequence[object], fields: Sequence[str], on_bad_row: str, origin: str, optional: Sequence[str] = (),
               line_of: Sequence[int] | None = None, fix: str = DATA_FIX, conversation: str | None = None
               ) -> tuple[list[int], RowReport]:
    """Indices of usable rows; raises :class:`DataError` on the first bad row unless skipping. ``line_of``
    gives each row's line in its file, for the message."""
    report = RowReport(total=len(rows))
    keep = []
    for i, row in enumerate(rows):
        problem = row_problem(row, fields, optional, conversation)
        if problem is None:
            keep.append(i)
            continue
        line = f" (line {line_of[i]})" if line_of is not None else ""
        if on_bad_row == "error":
            raise DataError(f"{origin}: row {i}: {problem}{line}. {fix[:1].upper()}{fix[1:]}")
        report.skipped += 1
        if len(report.reasons) < 3:
            report.reasons.append(f"row {i}: {problem}{line}")
    return keep, report


_QUIET = threading.Lock()


@contextmanager
def _quiet_datasets():
    """``datasets`` logs a failed parse before raising it; the raised error (reworded) is enough. Progress
    bars for a local file are noise too."""
    import datasets

    with _QUIET:
        level, bars = datasets.logging.get_verbosity(), not datasets.are_progress_bars_disabled()
        datasets.logging.set_verbosity(datasets.logging.CRITICAL)
        datasets.disable_progress_bars()
        try:
            yield
        finally:
            datasets.logging.set_verbosity(level)
            if bars:
                datasets.enable_progress_bars()


def _first_bad_json_line(path: Path) -> str | None:
    """The first line of a JSON-lines file that is not one JSON object, described; ``None`` if all are."""
    try:
        with path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    return f"line {n} is not JSON ({exc.msg} at column {exc.colno})"
                if not isinstance(row, dict):
                    return f"line {n} is a JSON {type(row).__name__}, not an object"
    except UnicodeDecodeError as exc:
        return f"it is not UTF-8 text ({exc.reason} at byte {exc.start})"
    return None


def _json_problem(path: Path) -> str | None:
    """Where a ``.json`` (one JSON document, or JSON lines) or ``.jsonl`` file stops holding objects."""
    if path.suffix == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _first_bad_json_line(path)  # JSON lines, or broken: the line scan says where
        bad = [i for i, item in enumerate(doc) if not isinstance(item, dict)] if isinstance(doc, list) else []
        return f"item {bad[0]} of its list is a JSON {type(doc[bad[0]]).__name__}, not an object" if bad else None
    return _first_bad_json_line(path)


def _load_failure(path: Path, exc: Exception) -> str:
    """One line for a local file ``datasets`` could not read: the file, where and what."""
    if path.suffix in (".jsonl", ".json"):
        bad = _json_problem(path)
        if bad:
            return f"data.dataset: {path}: {bad}; write one JSON object per line (or a JSON list of objects) such as {{\"prompt\": \"...\"}}"
    if "corresponds to no data" in str(exc):  # a CSV header without rows, say
        return f"data.dataset: {path} holds no rows; it needs one row per prompt"
    cause: BaseException = exc
    while type(cause).__name__ == "DatasetGenerationError" and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__
    what = {".csv": "a CSV file with a header row", ".parquet": "a parquet file"}.get(path.suffix, "JSON lines or a JSON list of objects")
    detail = f"{type(cause).__name__}: {cause}".strip().rstrip(":")
    return f"data.dataset: {path}: could not read it as {what} ({detail})"


def load_local_file(path: Path):
    """A local jsonl/json/parquet/csv file as a ``datasets.Dataset``; unreadable or empty files raise
    :class:`DataError` naming the file (and the line, for JSON lines)."""
    import datasets

    if not path.is_file():
        raise DataError(f"data.dataset: file not found: {path}{' (a directory)' if path.is_dir() else ''}")
    if path.stat().st_size == 0:
        raise DataError(f"data.dataset: {path} is empty; it needs one row per prompt")
    try:
        with _quiet_datasets():
            ds = datasets.load_dataset(LOCAL_FORMATS[path.suffix], data_files=str(path), split="train")
    except Exception as exc:  # pyarrow / pandas / json parse errors, wrapped by datasets
        raise DataError(_load_failure(path, exc)) from None
    if len(ds) == 0:
        raise DataError(f"data.dataset: {path} holds no rows; it needs one row per prompt")
    return ds


def load_raw_dataset(cfg: Config, split: str | None = None):
    """The configured dataset (a ``datasets.Dataset``) before row checks."""
    import datasets

    name = cfg.data.dataset
    if name == "builtin":
        from rayrlhf.task.build import build_task

        task = build_task(cfg.task)
        try:
            return task.split(split or cfg.data.split)
        except ValueError as exc:  # an unknown split name
            raise DataError(f"data.split / data.eval_split: {exc}") from None
    path = Path(name)
    if path.suffix in LOCAL_FORMATS:
        if cfg.data.eval_split:
            raise DataError(f"data.eval_split={cfg.data.eval_split!r}: a local file has no splits; leave it unset "
                            "(the file's last eval.num_prompts rows are held out for evaluation)")
        return load_local_file(path)
    try:
        return datasets.load_dataset(name, split=split or cfg.data.split)
    except Exception as exc:  # hub/network/format errors all surface here
        raise DataError(
            f"data.dataset={name!r}: could not load it with datasets.load_dataset ({type(exc).__name__}: {exc}). "
            "Use 'builtin', a local .jsonl/.json/.parquet/.csv file, or a reachable hub id"
        ) from None


def load_prompts(cfg: Config, split: str | None = None):
    """(dataset with usable rows, report). Columns ``prompt`` (after ``data.prompt_template``) and
    ``reference`` (if configured) are added under those names."""
    ds = load_raw_dataset(cfg, split)
    if cfg.data.max_rows:
        ds = ds.select(range(min(cfg.data.max_rows, len(ds))))
    fields = [cfg.data.prompt_field] + ([cfg.data.reference_field] if cfg.data.reference_field else [])
    missing = [f for f in fields if f not in ds.column_names]
    if missing:
        raise DataError(
            f"data.dataset={cfg.data.dataset!r} has no column(s) {missing}; its columns are {ds.column_names}. "
            "Set data.prompt_field / data.reference_field"
        )
    keep, report = check_rows(ds.select_columns(fields).to_list(), fields, cfg.data.on_bad_row, f"data.dataset={cfg.data.dataset!r}",
                              conversation=cfg.data.prompt_field)
    ds = ds.select(keep)
    template = cfg.data.prompt_template
    ref, field_name = cfg.data.reference_field, cfg.data.prompt_field
    chat = len(ds) > 0 and isinstance(ds[0][field_name], list)
    tokenizer = policy_tokenizer(cfg) if chat else None

    def to_columns(row: dict) -> dict:
        if chat:  # a conversation: the policy's chat template renders it; reward models get it too
            from rayrlhf.data.chat import render

            out = {"prompt": template.format(prompt=render(row[field_name], tokenizer)), "conversation": json.dumps(row[field_name])}
        else:
            out = {"prompt": template.format(prompt=row[field_name])}
        if ref:
            out["reference"] = row[ref]
        return out

    try:
        return ds.map(to_columns), report
    except ValueError as exc:
        raise DataError(f"data.dataset={cfg.data.dataset!r}: {exc}") from None


def policy_tokenizer(cfg: Config):
    """The policy's tokenizer (``policy.tokenizer``, else the model's own)."""
    from transformers import AutoTokenizer

    from rayrlhf.task.build import resolve_model

    return AutoTokenizer.from_pretrained(cfg.policy.tokenizer or resolve_model(cfg.policy.model, cfg.task),
                                         trust_remote_code=cfg.policy.trust_remote_code)


def load_splits(cfg: Config, log=print) -> tuple[list[dict], list[dict]]:
    """(training prompts, held-out evaluation prompts) as ``{"prompt", "reference"?}`` rows. The built-in task
    and ``data.eval_split`` give an evaluation split; a single local file holds out its last
    ``eval.num_prompts`` rows. Too few usable rows raise :class:`DataError`."""
    where = f"data.dataset={cfg.data.dataset!r}"
    train, report = load_prompts(cfg, cfg.data.split)
    if report.skipped:
        log(f"[data] {report.summary()}")
    cols = ["prompt"] + [c for c in ("reference", "conversation") if c in train.column_names]
    rows = train.select_columns(cols).to_list()
    if not rows:
        raise DataError(f"{where}: no usable training rows ({report.summary()})")
    if cfg.data.dataset == "builtin" or cfg.data.eval_split:
        ev, ev_report = load_prompts(cfg, cfg.data.eval_split or "heldout")
        eval_rows = ev.select_columns(cols).to_list()[: cfg.eval.num_prompts]
        if not eval_rows:
            raise DataError(f"{where}: no usable evaluation rows in split {cfg.data.eval_split or 'heldout'!r} "
                            f"({ev_report.summary()})")
    else:  # a single local file: hold out its tail
        if len(rows) <= cfg.eval.num_prompts:
            raise DataError(f"{where} has {len(rows)} usable rows; eval.num_prompts={cfg.eval.num_prompts} would leave "
                            "none to train on. Lower eval.num_prompts or set data.eval_split")
        rows, eval_rows = rows[: -cfg.eval.num_prompts], rows[-cfg.eval.num_prompts :]
    return rows, eval_rows
