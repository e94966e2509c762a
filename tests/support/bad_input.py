"""Shared harness of the bad-input suites (test_bad_input.py, test_bad_data_input.py).

Every case runs the CLI in-process (``rayrlhf.cli.main``) in a scratch working directory and must exit
non-zero (2: a usage, config or data error) within 3 s, with a message naming the key, or the file and the
row, no traceback, and the directory exactly as it was. Nothing here starts Ray or loads model weights:
config cases use ``train --dry-run``, data cases ``train`` (which fails in its preflight, before the run
directory exists), pairs cases ``rewards evaluate --pairs`` with a ``python`` source.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rayrlhf.cli import main

BASE_YAML = """\
run: {output_dir: out}
data: {dataset: prompts.jsonl, prompt_field: text, reference_field: summary}
policy: {model: ./bad_model}
eval: {num_prompts: 2}
sources:
  - {name: brevity, kind: python, model: "rayrlhf.rewards.heuristics:brevity"}
  - {name: rouge, kind: rouge}
"""
GOOD_ROWS = [{"text": f"document number {i}", "summary": f"summary {i}"} for i in range(8)]
PAIR = {"prompt": "Q?", "chosen": "short.", "rejected": "a much longer answer."}


def warm_imports() -> None:
    """Import what the cases reach once, outside their 3 s: datasets, transformers' auto classes, the pipeline."""
    import datasets  # noqa: F401
    from transformers import AutoConfig, AutoTokenizer  # noqa: F401

    import rayrlhf.experiments.compare  # noqa: F401
    import rayrlhf.experiments.report  # noqa: F401
    import rayrlhf.experiments.sweep  # noqa: F401
    import rayrlhf.rewards.evaluate  # noqa: F401
    import rayrlhf.rewards.heuristics  # noqa: F401
    import rayrlhf.run.loop  # noqa: F401
    import rayrlhf.run.preflight  # noqa: F401
    import rayrlhf.task.oracle  # noqa: F401


def listing(root: Path) -> set:
    return {(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@dataclass
class Outcome:
    rc: int
    out: str
    err: str
    seconds: float
    changed: list


def jsonl(rows) -> str:
    return "\n".join(json.dumps(r) for r in rows) + "\n"


def make_cli(tmp_path, monkeypatch, capsys):
    """``cli(*argv, files={name: text|bytes})``: write ``files`` into a scratch working directory holding
    base.yaml, prompts.jsonl (8 good rows) and bad_model/ (a config.json that does not parse), then run."""
    work = tmp_path / "work"
    (work / "bad_model").mkdir(parents=True)
    (work / "bad_model" / "config.json").write_text("{not json")
    (work / "base.yaml").write_text(BASE_YAML)
    (work / "prompts.jsonl").write_text(jsonl(GOOD_ROWS))
    monkeypatch.chdir(work)

    def run(*argv: str, files: dict | None = None) -> Outcome:
        for name, content in (files or {}).items():
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        before = listing(work)
        capsys.readouterr()
        t0 = time.perf_counter()
        try:
            rc = main(list(argv))
        except SystemExit as exc:  # argparse
            rc = exc.code
        seconds = time.perf_counter() - t0
        captured = capsys.readouterr()
        return Outcome(rc, captured.out, captured.err, seconds, sorted(listing(work) ^ before))

    return run


def rejected(o: Outcome, *needles: str, rc: int = 2) -> None:
    assert o.rc == rc, f"exit {o.rc}, wanted {rc}; stderr:\n{o.err}"
    assert "Traceback" not in o.err, o.err
    for needle in needles:
        assert needle in o.err, f"{needle!r} not in the message:\n{o.err}"
    assert o.seconds < 3.0, f"took {o.seconds:.2f}s"
    assert not o.changed, f"wrote or changed {o.changed}"
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized(), "a bad-input case started Ray"
