"""``rayrlhf sweep``: a Ray Tune grid over config keys; one trial = one full pipeline run.

Each iteration reports its metrics to Tune (the objective defaults to ``eval/win_rate_vs_init``), so ASHA
can stop hopeless trials after an iteration. Trials run at most as many at once as the cluster's CPUs fit
(each trial's actors and learner need :func:`rayrlhf.run.actor_group.ray_cpus_needed` CPUs), so they never
oversubscribe it. ``rayrlhf sweep --resume SWEEP_DIR`` restores an interrupted sweep with ``Tuner.restore``.

Ray touch points: ``tune.Tuner``/``TuneConfig``/``ASHAScheduler``, ``tune.report`` with a marker checkpoint and
``tune.get_checkpoint`` (here).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from rayrlhf.config import Config, ConfigError, apply_overrides, dump_config, load_config

OBJECTIVE = "eval/win_rate_vs_init"


def parse_grid(items: list[str]) -> dict[str, list]:
    """``["optim.beta=0.05,0.3"]`` -> ``{"optim.beta": [0.05, 0.3]}`` (values parsed as YAML scalars)."""
    grid: dict[str, list] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key or not raw:
            raise ConfigError(f"--grid {item!r}: write KEY=V1,V2,... (e.g. optim.beta=0.05,0.1,0.3)")
        grid[key] = [yaml.safe_load(v) for v in raw.split(",")]
    return grid


def trial_config(base: dict, params: dict) -> Config:
    """The base config with one grid point applied (validated)."""
    from rayrlhf.config import Config as _Config

    raw = apply_overrides(json.loads(json.dumps(base)), [f"{k}={json.dumps(v)}" for k, v in params.items()])
    return _Config.model_validate(raw)


def trial_run_dir(root: Path, trial_dir: str) -> Path:
    """A trial's run directory: ``SWEEP_DIR/runs/<Tune's trial directory name>`` (the same after a restore)."""
    return root / "runs" / Path(trial_dir).name


def _report(row: dict) -> None:
    """Report one iteration to Tune with a marker checkpoint, so a restored trial keeps Tune's
    ``training_iteration`` (the step Ray's MLflow / W&B callbacks log) in step with the run's iteration."""
    import tempfile

    import ray.tune

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "progress.json").write_text(json.dumps({"iteration": row["iteration"]}))
        ray.tune.report({k: v for k, v in row.items() if isinstance(v, int | float)},
                        checkpoint=ray.tune.Checkpoint.from_directory(d))


def _reported_iteration() -> int:
    """The last iteration this trial reported to Tune before it was interrupted (0 for a fresh trial)."""
    import ray.tune

    ckpt = ray.tune.get_checkpoint()
    if ckpt is None:
        return 0
    with ckpt.as_directory() as d:
        return json.loads((Path(d) / "progress.json").read_text())["iteration"]


def _trainable(params: dict, base: dict, root: str) -> None:
    """One Tune trial: a whole pipeline run in ``SWEEP_DIR/runs/<trial>``, reporting every iteration. ``params``
    is the grid point (what Tune and its logger callbacks see); ``base`` the sweep's config.

    The run lives in the sweep directory, not in Tune's trial directory (a per-session staging copy that a
    restored trial gets back empty), so a restored trial continues its own run; iterations it finished but never
    reported (killed in between) are reported from ``metrics.jsonl`` first, so Tune, ASHA and the trackers see
    each iteration once."""
    import ray.tune

    from rayrlhf.core.run_dir import RunDir
    from rayrlhf.run.entry import new_run_dir
    from rayrlhf.run.loop import Pipeline

    cfg = trial_config(base, params)
    run_path = trial_run_dir(Path(root), ray.tune.get_context().get_trial_dir())
    resume = (run_path / "config.yaml").is_file()
    run = RunDir(run_path) if resume else new_run_dir(cfg, run_path)
    done = run.resume_point()
    for row in run.metrics()[_reported_iteration():]:
        _report(row)
    if done == cfg.train.iterations:
        return
    pipe = Pipeline(cfg, run, resume=resume)
    closed = False
    try:
        for it in range(done + 1, cfg.train.iterations + 1):
            row = pipe.iteration(it)
            if it == cfg.train.iterations:  # free the trial's actors before Tune may stop it at its last report
                pipe.close()
                closed = True
            _report(row)
    finally:
        if not closed:
            pipe.close()


def run_sweep(cfg: Config, grid: dict[str, list], scheduler: str | None, out_dir: str | None = None,
              resume: str | None = None, log=print, max_concurrent: int | None = None) -> Path:
    import ray
    from ray import tune

    from rayrlhf.run.actor_group import init_ray, ray_cpus_needed, runs_that_fit

    if resume:
        root = Path(resume).resolve()
        meta = json.loads((root / "sweep.json").read_text())
        cfg = load_config(root / "config.yaml")
    else:
        root = Path(out_dir or cfg.run.output_dir).resolve()
        if (root / "sweep.json").exists():
            raise ConfigError(f"{root} already holds a sweep: resume it with `rayrlhf sweep --resume {root}`")
        for key, values in grid.items():  # fail before any trial starts
            for v in values:
                try:
                    trial_config(cfg.model_dump(mode="json"), {key: v})
                except Exception as exc:
                    raise ConfigError(f"--grid {key}={v!r}: {exc}") from None
        if cfg.eval.every != 1 or "eval.every" in grid:
            raise ConfigError(f"eval.every={cfg.eval.every}: a sweep reports {OBJECTIVE} to Tune after every "
                              "iteration (ASHA stops trials on it); leave eval.every at 1 in a sweep")
        root.mkdir(parents=True, exist_ok=True)
        (root / "config.yaml").write_text(dump_config(cfg))
        meta = {"grid": grid, "scheduler": scheduler, "objective": OBJECTIVE, "max_concurrent": max_concurrent}
        (root / "sweep.json").write_text(json.dumps(meta, indent=1))
    init_ray(cfg)
    per_trial = ray_cpus_needed(cfg)
    total = ray.cluster_resources().get("CPU", 1)
    fits = runs_that_fit(cfg)
    concurrent = max_concurrent or meta.get("max_concurrent") or fits
    log(f"[sweep] each trial needs {per_trial:g} CPUs; the cluster has {total:g} now: {concurrent} trial(s) at a time"
        + (" (more than fit now: the autoscaler must add nodes, or trials fail their placement timeout)"
           if concurrent > fits else ""))
    from rayrlhf.run.tracking import tune_callbacks

    callbacks = tune_callbacks(cfg.tracking, root)
    # the trial driver; its actors reserve their own resources
    trainable = tune.with_resources(tune.with_parameters(_trainable, base=cfg.model_dump(mode="json"), root=str(root)), {"cpu": 0.01})
    if resume:
        tuner = tune.Tuner.restore(str(root / "tune"), trainable=trainable, resume_errored=True)
    else:
        sched = None
        if scheduler == "asha":
            from ray.tune.schedulers import ASHAScheduler

            sched = ASHAScheduler(time_attr="iteration", max_t=cfg.train.iterations, grace_period=1)
        space = {k: tune.grid_search(v) for k, v in grid.items()}
        tuner = tune.Tuner(
            trainable, param_space=space,
            # a stopped trial's actor is not reused: its actors and placement group die with it
            tune_config=tune.TuneConfig(metric=OBJECTIVE, mode="max", scheduler=sched, max_concurrent_trials=concurrent,
                                        reuse_actors=False),
            run_config=tune.RunConfig(name="tune", storage_path=str(root), callbacks=callbacks,
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
        )
    results = tuner.fit()
    write_sweep_report(root, results, meta)
    return root


def write_sweep_report(root: Path, results, meta: dict) -> Path:
    """``sweep.md`` + ``sweep.csv``: config, final metrics, labels, wall time per trial; the best trial; a plot."""
    keys = list(meta["grid"])
    rows = []
    for res in results:
        hist = res.metrics_dataframe
        params = {k: res.config.get(k) for k in keys}
        last = res.metrics or {}
        rows.append({**params, "status": "error" if res.error else "ok", "iterations": int(last.get("iteration", 0)),
                     OBJECTIVE: last.get(OBJECTIVE), "ci_low": last.get(f"{OBJECTIVE}_ci_low"),
                     "ci_high": last.get(f"{OBJECTIVE}_ci_high"), "oracle_queries": last.get("oracle_queries"),
                     "wall_s": float(hist["timing/iteration_s"].sum()) if hist is not None and "timing/iteration_s" in hist else None,
                     "run_dir": str(trial_run_dir(root, res.path)), "_curve": [] if hist is None or OBJECTIVE not in hist else list(zip(hist["iteration"], hist[OBJECTIVE], strict=True))})
    with (root / "sweep.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if not k.startswith("_")] if rows else ["status"])
        w.writeheader()
        for r in rows:
            w.writerow({k: v for k, v in r.items() if not k.startswith("_")})
    ok = [r for r in rows if r[OBJECTIVE] is not None]
    best = max(ok, key=lambda r: r[OBJECTIVE]) if ok else None
    lines = [f"# rayrlhf sweep: {root.name}", "", f"Objective: `{OBJECTIVE}` (last reported iteration).", "",
             "| " + " | ".join(keys) + " | status | iterations | objective (95% CI) | oracle labels | wall s |",
             "|" + "---|" * (len(keys) + 5)]
    for r in rows:
        obj = "-" if r[OBJECTIVE] is None else f"{r[OBJECTIVE]:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        wall = "-" if r["wall_s"] is None else f"{r['wall_s']:.0f}"
        lines.append("| " + " | ".join(str(r[k]) for k in keys) + f" | {r['status']} | {r['iterations']} | {obj} | "
                     f"{r['oracle_queries']} | {wall} |")
    if best:
        lines += ["", "Best trial: " + ", ".join(f"`{k}={best[k]}`" for k in keys) + f" ({OBJECTIVE} {best[OBJECTIVE]:.3f})."]
    if ok:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for r in ok:
            its, vals = zip(*r["_curve"], strict=True) if r["_curve"] else ([], [])
            ax.plot(its, vals, marker="o", label=", ".join(f"{k}={r[k]}" for k in keys))
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set(xlabel="iteration", ylabel=OBJECTIVE, title="objective per iteration")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(root / "sweep.png", dpi=100)
        plt.close(fig)
        lines += ["", "![objective per iteration](sweep.png)"]
    (root / "sweep.md").write_text("\n".join(lines) + "\n")
    return root / "sweep.md"
