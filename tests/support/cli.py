"""The one way tests run the ``rayrlhf`` command: a subprocess, as a user runs it, with the test environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO


def env(**extra) -> dict:
    """The environment of a ``rayrlhf`` subprocess: offline, quiet tokenizers, ``tests`` importable (configs name
    python sources in tests.support.helpers)."""
    return {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), **extra}


def rayrlhf(*args: str, check: bool = True, timeout: float = 900, cwd: Path = REPO, env_extra: dict | None = None,
            **kwargs) -> subprocess.CompletedProcess:
    """``rayrlhf ARGS`` (``python -m rayrlhf.cli``); with ``check``, a non-zero exit fails the test with its stderr."""
    out = subprocess.run([sys.executable, "-m", "rayrlhf.cli", *args], capture_output=True, text=True,
                         env=env(**(env_extra or {})), cwd=cwd, timeout=timeout, **kwargs)
    if check and out.returncode != 0:
        raise AssertionError(f"rayrlhf {' '.join(map(str, args))} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return out


def train(config, run_dir, *overrides, cwd=REPO, **env_extra) -> list[dict]:
    """``rayrlhf train CONFIG... run.output_dir=RUN_DIR`` (relative, as `make quickstart` passes it); its metrics rows."""
    rel = os.path.relpath(run_dir, cwd)
    out = rayrlhf("train", *config, f"run.output_dir={rel}", *overrides, cwd=cwd, env_extra=env_extra)
    last = out.stdout.strip().splitlines()[-1]  # a run ends by naming the report it wrote
    assert last.startswith("Open ") and "report.md" in last and (Path(run_dir) / "report.md").is_file(), out.stdout[-2000:]
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]


def ledger(run_dir) -> list[dict]:
    """The ledger's answers (its "asked" lines, written before each batch is asked, left out)."""
    from rayrlhf.annotate.ledger import ledger_answers

    return ledger_answers(Path(run_dir) / "annotations.jsonl")
