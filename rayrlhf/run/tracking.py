"""Experiment trackers (MLflow, W&B), off unless ``tracking.mlflow`` / ``tracking.wandb`` say so.

Sweeps use Ray Tune's own logger callbacks (:func:`tune_callbacks`); a ``train`` or ``compare`` run, which is
not a Tune trial, logs the same metrics through the libraries' run APIs (:class:`RunTracker`). MLflow defaults
to a file store under the output directory, so neither needs a server or the network unless configured to.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path

from rayrlhf.config import Config, ConfigError, TrackingConfig

_START = threading.Lock()  # concurrent runs of one comparison share an experiment: create it once


def _require(tracker: str) -> None:
    if importlib.util.find_spec(tracker) is None:  # the tracker's name is its package's
        raise ConfigError(f"tracking.{tracker}=true needs the {tracker!r} package: "
                          "pip install 'rayrlhf[tracking]' (or set it to false)")


def enabled(t: TrackingConfig) -> list[str]:
    """The trackers switched on, each checked to be installed (fails before any run starts)."""
    on = [name for name in ("mlflow", "wandb") if getattr(t, name)]
    for name in on:
        _require(name)
    return on


def mlflow_uri(t: TrackingConfig, root: Path) -> str:
    """``tracking.mlflow_tracking_uri`` or a file store in ``root/mlruns``. MLflow 3 keeps file stores in
    maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``; a local, serverless default is what we want here
    (point the URI at a tracking server or a database to leave it)."""
    if t.mlflow_tracking_uri:
        return t.mlflow_tracking_uri
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return (root / "mlruns").resolve().as_uri()


def _wandb_mode_env(t: TrackingConfig) -> None:
    # Ray's callback checks for an API key unless $WANDB_MODE is offline/disabled; the mode lives in config.
    if t.wandb_mode:
        os.environ["WANDB_MODE"] = t.wandb_mode


def tune_callbacks(t: TrackingConfig, root: Path) -> list:
    """Ray Tune logger callbacks for a sweep in ``root`` (one MLflow run / W&B run per trial), as the ``tracking``
    section ``t`` asks."""
    on = enabled(t)
    experiment = t.experiment or root.name
    callbacks = []
    if "mlflow" in on:
        callbacks.append(_resuming_mlflow_callback()(tracking_uri=mlflow_uri(t, root), experiment_name=experiment))
    if "wandb" in on:
        from ray.air.integrations.wandb import WandbLoggerCallback

        _wandb_mode_env(t)
        # Ray names a trial's W&B run by its trial id; "allow" lets a restored trial continue that run
        callbacks.append(WandbLoggerCallback(project=t.wandb_project, group=experiment, dir=str(root), resume="allow",
                                             **({"mode": t.wandb_mode} if t.wandb_mode else {})))
    return callbacks


def _resuming_mlflow_callback():
    """Ray's ``MLflowLoggerCallback``, except that a trial brought back by ``Tuner.restore`` continues its own
    MLflow run (found by a ``trial_id`` tag) instead of opening a second run under the same name."""
    import mlflow
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class ResumingMLflowLoggerCallback(MLflowLoggerCallback):
        def log_trial_start(self, trial) -> None:
            if trial not in self._trial_runs:
                client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
                exp_id = client.get_experiment_by_name(self.experiment_name).experiment_id
                found = client.search_runs([exp_id], filter_string=f"tags.trial_id = '{trial.trial_id}'", max_results=1)
                if found:
                    run_id = found[0].info.run_id
                    client.update_run(run_id, status="RUNNING")
                else:
                    tags = {**(self.tags or {}), "trial_name": str(trial), "trial_id": trial.trial_id}
                    run_id = client.create_run(exp_id, run_name=str(trial), tags=tags).info.run_id
                self._trial_runs[trial] = run_id
            super().log_trial_start(trial)

    return ResumingMLflowLoggerCallback


class RunTracker:
    """Logs one pipeline run's config and per-iteration metrics to the enabled trackers."""

    def __init__(self, cfg: Config, run_root: Path, experiment_root: Path | None = None) -> None:
        t = cfg.tracking
        self.on = enabled(t)
        self._mlflow = self._wandb = None
        if not self.on:
            return
        from ray.tune.utils import flatten_dict

        exp_root = experiment_root or run_root
        experiment = t.experiment or exp_root.name
        name = run_root.relative_to(exp_root).as_posix() if experiment_root else run_root.name
        params = {k: str(v) for k, v in flatten_dict(cfg.model_dump(mode="json", exclude={"sources"}), delimiter=".").items()}
        params["sources"] = ",".join(s.name for s in cfg.sources)
        if "mlflow" in self.on:
            import mlflow

            client = mlflow.MlflowClient(tracking_uri=mlflow_uri(t, exp_root))
            with _START:
                exp = client.get_experiment_by_name(experiment)
                exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
                self._run_id = client.create_run(exp_id, run_name=name).info.run_id
            from mlflow.entities import Param

            client.log_batch(self._run_id, params=[Param(k, v[:6000]) for k, v in params.items()])
            self._mlflow = client
        if "wandb" in self.on:
            import wandb

            _wandb_mode_env(t)
            with _START:
                self._wandb = wandb.init(project=t.wandb_project, group=experiment, name=name, dir=str(run_root),
                                         config=params, reinit="create_new",
                                         **({"mode": t.wandb_mode} if t.wandb_mode else {}))

    def log(self, row: dict, step: int) -> None:
        metrics = {k: float(v) for k, v in row.items() if isinstance(v, int | float) and k != "iteration"}
        if self._mlflow:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            self._mlflow.log_batch(self._run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])
        if self._wandb:
            self._wandb.log(metrics, step=step)

    def log_steps(self, steps: list[dict], first_step: int, iteration: int) -> None:
        """Per-optimizer-step learner metrics (loss, lr, tokens/s): MLflow series by global step; a W&B table per
        iteration (W&B's step axis is the iteration)."""
        if self._mlflow:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            self._mlflow.log_batch(self._run_id, metrics=[
                Metric(f"train_step/{k}", float(v), now, first_step + i) for i, row in enumerate(steps) for k, v in row.items()])
        if self._wandb:
            import wandb

            cols = ["global_step", *steps[0]] if steps else ["global_step"]
            table = wandb.Table(columns=cols, data=[[first_step + i, *row.values()] for i, row in enumerate(steps)])
            self._wandb.log({"train_steps": table}, step=iteration)

    def log_samples(self, rows: list[dict], iteration: int, markdown: str) -> None:
        """Held-out prompts with the policy's responses and their oracle scores after ``iteration``."""
        if self._mlflow:
            self._mlflow.log_text(self._run_id, markdown, f"samples/iter_{iteration}.md")
        if self._wandb and rows:
            import wandb

            table = wandb.Table(columns=list(rows[0]), data=[list(r.values()) for r in rows])
            self._wandb.log({"samples": table}, step=iteration)

    def close(self) -> None:
        if self._mlflow:
            self._mlflow.set_terminated(self._run_id)
        if self._wandb:
            self._wandb.finish()
