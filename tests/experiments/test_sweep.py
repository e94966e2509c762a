"""`rayrlhf sweep` on Ray Tune: a beta grid with ASHA, killed mid-sweep and resumed with Tuner.restore."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import env, rayrlhf
from tests.support.helpers import TRACKING, mlflow_runs, wandb_offline_runs
from tests.support.paths import REPO

pytestmark = pytest.mark.ray


@pytest.mark.extended
def test_sweep_killed_then_resumed(train_config, tmp_path):
    root = tmp_path / "sweep"
    args = [sys.executable, "-m", "rayrlhf.cli", "sweep", *train_config, "--grid", "optim.beta=0.05,0.3",
            "--scheduler", "asha", "rollout.backend=hf", f"run.output_dir={root}", *TRACKING]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=REPO,
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:  # kill once a trial has finished an iteration
        if any(root.glob("runs/*/checkpoints/latest")):
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (root / "sweep.md").exists()
    out = rayrlhf("sweep", "--resume", str(root))
    assert "Best trial: `optim.beta=" in out.stdout
    with (root / "sweep.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(float(r["optim.beta"]) for r in rows) == [0.05, 0.3]
    assert all(r["status"] == "ok" and 0 <= float(r["eval/win_rate_vs_init"]) <= 1 for r in rows)
    assert (root / "sweep.png").stat().st_size > 1000
    # Ray Tune's MLflow / W&B logger callbacks (offline): one MLflow run per trial, the restored trial's
    # continued, holding the objective at every iteration of the trial's own metrics.jsonl, by iteration
    runs = mlflow_runs(root, "sweep")
    assert len(runs) == 2, sorted(runs)
    by_beta = {float(r["params"]["optim.beta"]): r for r in runs.values()}
    for row in rows:
        lines = (Path(row["run_dir"]) / "metrics.jsonl").read_text().splitlines()
        series = [(m["iteration"], m["eval/win_rate_vs_init"]) for m in map(json.loads, lines)]
        assert series[-1] == (int(row["iterations"]), float(row["eval/win_rate_vs_init"]))
        # the trial continued its run: Tune's step is the run's iteration, each reported once (a lost Tune
        # checkpoint may repeat an iteration, with its stored value)
        tune_rows = [json.loads(x) for x in next(Path(root / "tune").glob(Path(row["run_dir"]).name)).joinpath(
            "result.json").read_text().splitlines()]
        assert sorted({(r["training_iteration"], r["eval/win_rate_vs_init"]) for r in tune_rows}) == series
        logged = by_beta[float(row["optim.beta"])]
        assert sorted(set(logged["eval/win_rate_vs_init"])) == series and logged["status"] == "FINISHED"
    assert len(wandb_offline_runs(root)) >= 2


def test_bad_grid_fails_before_any_trial(train_config, tmp_path):
    out = rayrlhf("sweep", *train_config, "--grid", "optim.beta=0.1,-1", f"run.output_dir={tmp_path / 's'}", check=False)
    assert out.returncode == 2 and "--grid optim.beta=-1" in out.stderr and "greater than 0" in out.stderr
    assert not (tmp_path / "s").exists()
