"""A release: `python -m build` makes a wheel and an sdist that `twine check` accepts, with the version written in
rayrlhf/__init__.py; the wheel installs into a clean venv and its `rayrlhf --help` runs. The clean venv gets the
wheel without its dependencies plus the two `--help` imports (pydantic, PyYAML): the full set (torch, Ray, vLLM) is
what `make env` installs and every other test runs on."""

import subprocess
import sys
import venv

import rayrlhf
from tests.support.paths import REPO


def run(*args, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, args))}:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out


def test_the_wheel_and_sdist_build_pass_twine_and_install_into_a_clean_venv(tmp_path):
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, REPO)
    wheel = dist / f"rayrlhf-{rayrlhf.__version__}-py3-none-any.whl"
    sdist = dist / f"rayrlhf-{rayrlhf.__version__}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in dist.iterdir())
    run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    env_dir = tmp_path / "clean"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    run(py, "-m", "pip", "install", "--quiet", "--no-deps", wheel)
    run(py, "-m", "pip", "install", "--quiet", "pydantic>=2.7", "pyyaml>=6")
    helped = run(env_dir / "bin" / "rayrlhf", "--help")
    assert "compare" in helped.stdout and "train" in helped.stdout
    assert run(env_dir / "bin" / "rayrlhf", "--version").stdout.strip() == f"rayrlhf {rayrlhf.__version__}"
