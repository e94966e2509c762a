"""The run directory: resolved config, metrics series, checkpoints and the resume pointer.

```
RUN_DIR/config.yaml            resolved config
RUN_DIR/metrics.jsonl          one JSON object per iteration
RUN_DIR/annotations.jsonl      the annotation ledger (rayrlhf.annotation)
RUN_DIR/rounds/iter_N.jsonl    each round's generated responses, written before they are annotated
RUN_DIR/eval/iter_N.json       held-out samples and oracle scores after iteration N (0: the initial policy)
RUN_DIR/checkpoints/iter_N/    HF-format policy + optimizer.pt + state.json
RUN_DIR/checkpoints/latest     name of the last complete checkpoint (written last, atomically)
RUN_DIR/tb/                    TensorBoard events
```
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()  # absolute: actors (vLLM, coordinator) run in other working directories
        self.checkpoints = self.root / "checkpoints"

    def checkpoint(self, iteration: int) -> Path:
        return self.checkpoints / f"iter_{iteration}"

    def write_json_atomic(self, path: Path, obj) -> None:
        write_text_atomic(path, json.dumps(obj, indent=1))

    def mark_complete(self, iteration: int, state: dict) -> None:
        """Make ``iter_N`` the resume point: its state first, then the pointer."""
        self.write_json_atomic(self.checkpoint(iteration) / "state.json", state)
        write_text_atomic(self.checkpoints / "latest", f"iter_{iteration}")

    def latest(self) -> tuple[Path, dict] | None:
        pointer = self.checkpoints / "latest"
        if not pointer.is_file():
            return None
        ckpt = self.checkpoints / pointer.read_text().strip()
        return ckpt, json.loads((ckpt / "state.json").read_text())

    def rounds_path(self, iteration: int) -> Path:
        return self.root / "rounds" / f"iter_{iteration}.jsonl"

    def saved_rounds(self, iteration: int) -> list[list[dict]]:
        """Rounds of an interrupted iteration, to replay on resume (a line cut by a crash is dropped)."""
        path = self.rounds_path(iteration)
        rounds = []
        if path.is_file():
            for line in path.read_text().splitlines():
                try:
                    rounds.append(json.loads(line))
                except json.JSONDecodeError:
                    break
        return rounds

    def save_round(self, iteration: int, items: list[dict]) -> None:
        path = self.rounds_path(iteration)
        path.parent.mkdir(exist_ok=True)
        with path.open("a") as f:
            f.write(json.dumps(items) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def append_metrics(self, row: dict) -> None:
        with (self.root / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def metrics(self) -> list[dict]:
        path = self.root / "metrics.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def resume_point(self) -> int:
        """The last complete iteration (0 if none). Metrics rows written after it are dropped, so a resumed
        run's series continues without duplicates."""
        done = (self.latest() or (None, {"iteration": 0}))[1]["iteration"]
        keep = [r for r in self.metrics() if r.get("iteration", 0) <= done]
        write_text_atomic(self.root / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in keep))
        return done
