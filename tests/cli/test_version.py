"""The version is written once (rayrlhf/__init__.py): the CLI prints it, the package metadata reads it, and the
changelog names each released version."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import rayrlhf

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_prints_the_package_version():
    out = subprocess.run([sys.executable, "-m", "rayrlhf.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"rayrlhf {rayrlhf.__version__}"


def test_pyproject_reads_the_version_from_the_package_and_gives_an_spdx_license():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rayrlhf.__version__"}
    assert project["project"]["license"] == "Apache-2.0"


def test_the_changelog_has_the_current_version_or_an_unreleased_section():
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[0] == "Unreleased" or headings[0].startswith(rayrlhf.__version__)
    assert rayrlhf.__version__ in headings
