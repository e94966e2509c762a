"""Prompt data through ``datasets``: the built-in task, local jsonl/json/parquet/csv files or hub ids.

Rows whose configured text fields are missing, empty or not text either stop the run with the row index
and field name (``on_bad_row: error``) or are skipped and counted (``on_bad_row: skip``).
"""

from __future__ import annotations

from collections.abc import Sequence
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


def row_problem(row: dict, fields: Sequence[str]) -> str | None:
    """Why ``row`` cannot be used (first bad field), or ``None``."""
    for name in fields:
        if name not in row or row[name] is None:
            return f"field '{name}' is missing"
        value = row[name]
        if not isinstance(value, str):
            return f"field '{name}' is not text (got {type(value).__name__})"
        if not value.strip():
            return f"field '{name}' is empty"
    return None


def check_rows(rows: Sequence[dict], fields: Sequence[str], on_bad_row: str, origin: str) -> tuple[list[int], RowReport]:
    """Indices of usable rows; raises :class:`DataError` on the first bad row unless skipping."""
    report = RowReport(total=len(rows))
    keep = []
    for i, row in enumerate(rows):
        problem = row_problem(row, fields)
        if problem is None:
            keep.append(i)
            continue
        if on_bad_row == "error":
            raise DataError(
                f"{origin}: row {i}: {problem}. Fix the data, point data.prompt_field/reference_field at the "
                "right columns, or set data.on_bad_row=skip to skip and count such rows"
            )
        report.skipped += 1
        if len(report.reasons) < 3:
            report.reasons.append(f"row {i}: {problem}")
    return keep, report


def load_raw_dataset(cfg: Config, split: str | None = None):
    """The configured dataset (a ``datasets.Dataset``) before row checks."""
    import datasets

    name = cfg.data.dataset
    if name == "builtin":
        from rayrlhf.task.build import build_task

        return build_task(cfg.task).split(split or cfg.data.split)
    path = Path(name)
    if path.suffix in LOCAL_FORMATS:
        if not path.is_file():
            raise DataError(f"data.dataset: file not found: {path}")
        return datasets.load_dataset(LOCAL_FORMATS[path.suffix], data_files=str(path), split="train")
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
    keep, report = check_rows(ds.select_columns(fields).to_list(), fields, cfg.data.on_bad_row, f"data.dataset={cfg.data.dataset!r}")
    ds = ds.select(keep)
    template = cfg.data.prompt_template
    ref = cfg.data.reference_field

    def to_columns(row: dict) -> dict:
        out = {"prompt": template.format(prompt=row[cfg.data.prompt_field])}
        if ref:
            out["reference"] = row[ref]
        return out

    return ds.map(to_columns), report
