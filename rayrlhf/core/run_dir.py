"""The run directory: resolved config, metrics series, checkpoints, the resume pointer and the run lock.

```
RUN_DIR/config.yaml            resolved config
RUN_DIR/metrics.jsonl          one JSON object per iteration
RUN_DIR/annotations.jsonl      the annotation ledger (rayrlhf.annotate.ledger)
RUN_DIR/rounds/iter_N.jsonl    each round's generated responses, written before they are annotated
RUN_DIR/eval/iter_N.json       held-out samples and oracle scores after iteration N (0: the initial policy)
RUN_DIR/checkpoints/iter_N/    HF-format policy (+ optimizer.pt when the AdamW state lives on) + state.json
RUN_DIR/checkpoints/latest     name of the last complete checkpoint (written last, atomically)
RUN_DIR/tb/                    TensorBoard events
RUN_DIR/.lock                  held by the driver that runs in this directory
```

Every file is written durably (:mod:`rayrlhf.core.durable`): appends are fsynced, replaces are atomic, and a
checkpoint's files are on disk before ``latest`` names it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rayrlhf.core.durable import append_jsonl, fsync_dir, read_jsonl, write_text_atomic

__all__ = ["RunDir", "RunDirError", "write_text_atomic"]



@dataclass
class ResumeState:
    """What a checkpoint's ``state.json`` holds to resume from it: the iteration it completes, where the next
    iteration's prompts start in the seeded prompt order, and the coordinator's state (its arm statistics)."""

    iteration: int = 0
    cursor: int = 0
    coordinator: dict = field(default_factory=dict)
    label_examples: list = field(default_factory=list)  # oracle.route: the human answers the label model is fitted on

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict) -> ResumeState:
        return cls(int(row.get("iteration", 0)), int(row.get("cursor", 0)), dict(row.get("coordinator") or {}),
                   list(row.get("label_examples") or []))

class RunDirError(ValueError):
    """A problem with a run directory, worded with the fix."""


def check_local_path(path: str | Path, what: str = "run.output_dir") -> None:
    """Refuse object-store URLs: the run directory is appended to (the ledger) and read by the rollout engines
    as files, which an object store does not offer."""
    if "://" in str(path):
        raise RunDirError(
            f"{what}={path}: object-store paths are not supported; the run directory's ledger is appended to and its "
            "checkpoints are read by the rollout engines as files. Use a path on a shared filesystem that every node "
            "mounts (EFS, Filestore, NFS, a Kubernetes RWX volume; see clusters/README.md) and copy finished runs to "
            "object storage afterwards")


class RunDir:
    def __init__(self, root: str | Path) -> None:
        check_local_path(root)
        self.root = Path(root).resolve()  # absolute: actors (vLLM, coordinator) run in other working directories
        self.checkpoints = self.root / "checkpoints"
        self._lock_fd: int | None = None

    def checkpoint(self, iteration: int) -> Path:
        return self.checkpoints / f"iter_{iteration}"

    def write_json_atomic(self, path: Path, obj) -> None:
        write_text_atomic(path, json.dumps(obj, indent=1))

    # -- the run lock ---------------------------------------------------------------------------------------
    def lock(self) -> None:
        """Hold ``RUN_DIR/.lock`` for this process (released when it exits, however it exits); a second driver
        on the same directory fails at once, naming the holder."""
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text().strip() or "another process"
            os.close(fd)
            raise RunDirError(f"{self.root} is in use by {holder}; wait for that run to finish or stop it first "
                              "(two drivers in one directory would write one ledger twice)") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- checkpoints and the resume point -------------------------------------------------------------------
    def mark_complete(self, iteration: int, state: ResumeState, keep: int | None = None) -> None:
        """Make ``iter_N`` the resume point: its files on disk, its state, then the pointer; then prune."""
        ckpt = self.checkpoint(iteration)
        for f in ckpt.rglob("*"):
            if f.is_file():
                with f.open("rb") as handle:
                    os.fsync(handle.fileno())
        fsync_dir(ckpt)
        self.write_json_atomic(ckpt / "state.json", state.to_json())
        write_text_atomic(self.checkpoints / "latest", f"iter_{iteration}")
        if keep is not None:
            self.prune(keep)

    def complete_checkpoints(self) -> list[int]:
        """Iterations whose checkpoint is complete (has ``state.json``), oldest first."""
        if not self.checkpoints.is_dir():
            return []
        its = [int(p.name[5:]) for p in self.checkpoints.glob("iter_*") if p.name[5:].isdigit() and (p / "state.json").is_file()]
        return sorted(its)

    def prune(self, keep: int) -> None:
        """Delete all but the newest ``keep`` complete checkpoints (``latest`` is always among them), and any
        incomplete checkpoint older than the latest."""
        latest = self.latest()
        if latest is None:
            return
        newest = int(latest[0].name[5:])
        complete = [i for i in self.complete_checkpoints() if i <= newest]
        doomed = set(complete[:-keep]) if keep else set()
        doomed |= {int(p.name[5:]) for p in self.checkpoints.glob("iter_*")
                   if p.name[5:].isdigit() and int(p.name[5:]) < newest and int(p.name[5:]) not in complete}
        for it in sorted(doomed):
            shutil.rmtree(self.checkpoint(it), ignore_errors=True)

    def latest(self) -> tuple[Path, ResumeState] | None:
        """The resume point: the checkpoint ``checkpoints/latest`` names and its state (``None`` before any)."""
        pointer = self.checkpoints / "latest"
        if not pointer.is_file():
            return None
        name = pointer.read_text().strip()
        ckpt = self.checkpoints / name
        if not (ckpt / "state.json").is_file():
            have = ", ".join(f"iter_{i}" for i in self.complete_checkpoints()) or "none"
            raise RunDirError(
                f"{pointer} names {name!r}, which is missing or incomplete (no state.json; complete checkpoints: {have}). "
                f"Point it at a complete one (echo iter_N > {pointer}) or remove it to start the run over")
        return ckpt, ResumeState.from_json(json.loads((ckpt / "state.json").read_text()))

    def set_status(self, stage: str, iteration: int | None = None, round: int | None = None, error: str | None = None) -> None:
        """``RUN_DIR/status.json``: what the run is doing now (for people and monitors; never read to resume)."""
        status = {"stage": stage, "iteration": iteration, "round": round, "since": time.time(), "pid": os.getpid()}
        if error:
            status["error"] = error
        self.write_json_atomic(self.root / "status.json", status)

    # -- records --------------------------------------------------------------------------------------------
    def rounds_path(self, iteration: int) -> Path:
        return self.root / "rounds" / f"iter_{iteration}.jsonl"

    def saved_rounds(self, iteration: int) -> list[list[dict]]:
        """Rounds of an interrupted iteration, to replay on resume (a torn last line is dropped)."""
        return read_jsonl(self.rounds_path(iteration))

    def save_round(self, iteration: int, items: list[dict]) -> None:
        path = self.rounds_path(iteration)
        path.parent.mkdir(exist_ok=True)
        append_jsonl(path, [items])

    def append_metrics(self, row: dict) -> None:
        append_jsonl(self.root / "metrics.jsonl", [row])

    def metrics(self) -> list[dict]:
        return read_jsonl(self.root / "metrics.jsonl")

    def resume_point(self) -> int:
        """The last complete iteration (0 if none). Metrics rows written after it are dropped, so a resumed
        run's series continues without duplicates."""
        latest = self.latest()
        done = latest[1].iteration if latest else 0
        keep = [r for r in self.metrics() if r.get("iteration", 0) <= done]
        write_text_atomic(self.root / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in keep))
        return done
