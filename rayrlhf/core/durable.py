"""Files that survive crashes: atomic replaces and append-only JSONL, both fsynced.

A paid label is written before anything else happens (docs/architecture.md), so every record file of a run (the
annotation ledger, the rounds, the metrics) goes through :func:`append_jsonl`: the record is written, flushed and
fsynced before the call returns. A crash mid-write (full disk, power loss) can leave a torn last line; the next
append first moves that fragment to ``<file>.torn`` (and says so) instead of gluing the new record onto it, and
:func:`read_jsonl` ignores a torn last line. A bad line anywhere else is corruption and is reported with its
file and line number.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


class CorruptFileError(ValueError):
    """A record file has a damaged line that is not a torn tail (names the file, the line and the fix)."""


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all, durably: temp file, fsync, rename, fsync of the directory."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _is_record(fragment: bytes) -> bool:
    """A complete JSON object or array (a torn one never parses: its closing bracket is missing)."""
    try:
        return isinstance(json.loads(fragment), dict | list)
    except ValueError:
        return False


def repair_torn_tail(path: Path) -> int:
    """If ``path`` does not end in a newline, move its last partial line to ``<path>.torn`` and cut it off.
    Returns the number of bytes moved aside (0 when the file was whole)."""
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        f.seek(0)
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if _is_record(data[keep:]):  # a whole record that lost only its newline: complete it
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
            f.flush()
            os.fsync(f.fileno())
            return 0
        with path.with_name(path.name + ".torn").open("ab") as aside:
            aside.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')} cut from the end of {path.name}\n".encode())
            aside.write(data[keep:] + b"\n")
            aside.flush()
            os.fsync(aside.fileno())
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    log.warning("%s ended in a torn line (%d bytes, a crash mid-write); moved it to %s.torn", path, size - keep, path.name)
    return size - keep


def append_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """Append ``rows`` as JSON lines and fsync before returning (after repairing a torn tail)."""
    path = Path(path)
    new = not path.exists()
    repair_torn_tail(path)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    with path.open("a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    if new:
        fsync_dir(path.parent)


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSONL file ([] if absent). A torn last line (no newline: a crash mid-write) is ignored;
    a damaged line elsewhere raises :class:`CorruptFileError`."""
    path = Path(path)
    if not path.is_file():
        return []
    text = path.read_text()
    lines = text.split("\n")
    torn = lines.pop()  # "" when the file ends in a newline
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise CorruptFileError(
                f"{path}, line {number}: not valid JSON ({exc.msg}); records after a crash are never glued onto a torn "
                "line, so this file was edited or damaged. Fix or delete that line by hand, then run again") from None
    if torn.strip():
        if _is_record(torn.encode()):  # a whole record whose newline was lost
            rows.append(json.loads(torn))
        else:
            log.warning("%s: ignoring a torn last line (%d bytes)", path, len(torn))
    return rows
