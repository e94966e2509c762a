"""The documentation site and the README landing page: `mkdocs build --strict` (no broken link or anchor, no page
left out of the nav), the README short with every link to a file that exists and its config example valid."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from rayrlhf.config import Config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_site_builds_in_strict_mode(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    for page in ("index.html", "method/index.html", "changelog/index.html", "clusters/index.html", "benchmarks-full/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


def test_the_readme_is_a_landing_page_whose_links_resolve():
    assert len(README.splitlines()) < 150
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_the_readme_s_own_task_example_is_a_valid_config():
    block = re.search(r"## Your own task\n\n```yaml\n(.*?)```", README, re.S).group(1)
    cfg = Config.model_validate(yaml.safe_load(block))
    assert [s.kind for s in cfg.sources] == ["http", "judge", "python"] and cfg.oracle.backend == "web"
