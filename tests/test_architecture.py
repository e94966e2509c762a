"""The architecture's import rules (pyproject.toml [tool.importlinter], docs/architecture.md), checked by import-linter:
they hold on this tree, and a deliberate upward import into a copy of it breaks them."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``tree`` (first on the path), with the repository's contracts."""
    return subprocess.run([str(LINT), "--config", str(REPO / "pyproject.toml"), "--no-cache"], cwd=tree,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120)


def test_contracts_hold():
    out = lint(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("algorithms/losses.py", "from rayrlhf.run import loop", "top to bottom"),  # upward: algorithms -> run
    ("core/records.py", "from rayrlhf.annotate import oracle", "top to bottom"),  # upward: core -> annotate
    ("algorithms/selection.py", "import ray", "are pure"),  # Ray in a pure package
    ("annotate/ranking.py", "from rayrlhf.annotate import store", "No import cycles"),  # store already imports ranking
    ("labelling/rules.py", "import ray", "decide on plain data"),  # Ray in the labelling rules
    ("labelling/decide.py", "from rayrlhf.annotate import people", "decide on plain data"),  # a backend in a rule
])
def test_a_deliberate_violation_is_caught(tmp_path, module, line, contract):
    shutil.copytree(REPO / "rayrlhf", tmp_path / "rayrlhf", ignore=shutil.ignore_patterns("__pycache__", "static"))
    path = tmp_path / "rayrlhf" / module
    path.write_text(path.read_text() + f"\n{line}  # deliberate violation (tests/test_architecture.py)\n")
    out = lint(tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    broken = [ln for ln in out.stdout.splitlines() if ln.endswith(" BROKEN")]
    assert any(contract in ln for ln in broken), out.stdout  # an upward import may break more than one rule


def test_modules_stay_small():
    """No module over 400 lines; none over 250 in rayrlhf/run/, where the loop lives (docs/architecture.md)."""
    sizes = {p.relative_to(REPO / "rayrlhf").as_posix(): len(p.read_text().splitlines())
             for p in (REPO / "rayrlhf").rglob("*.py")}
    assert {m: n for m, n in sizes.items() if n > 400} == {}
    assert {m: n for m, n in sizes.items() if m.startswith("run/") and n > 250} == {}


def test_no_backend_is_probed_for_members_it_may_lack():
    """The oracle backend's contract is declared in full (rayrlhf/annotate/backend.py): nothing asks a backend what it
    has with getattr or hasattr, and no backend name is written outside the registry."""
    import re

    for path in (REPO / "rayrlhf").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"(getattr|hasattr)\((self\.)?backend\b", text), path
        if path.name not in ("oracle.py", "learning.py"):  # the registry, and the config field listing the names
            assert not re.search(r"""backend (not )?in \(["'](web|vendor)""", text), path
