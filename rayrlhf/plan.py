"""``rayrlhf train --dry-run``: what a config will do and what it asks of the cluster, loading nothing
(local data files and model directories are checked to exist)."""

from __future__ import annotations

from pathlib import Path

from rayrlhf.config import Config, ConfigError


def describe_plan(cfg: Config) -> str:
    t, tr = cfg.train, cfg.transfer
    arms = {"none": ["self"]}.get(tr.mode) or ([tr.mode[6:]] if tr.mode.startswith("fixed:") else [s.name for s in cfg.sources] + ["self"])
    lines = [
        f"policy      {cfg.policy.model} ({cfg.rollout.backend} rollouts, max {cfg.rollout.max_new_tokens} new tokens)",
        f"data        {cfg.data.dataset} split={cfg.data.split} prompt_field={cfg.data.prompt_field} "
        f"reference_field={cfg.data.reference_field} template={cfg.data.prompt_template!r}",
        f"loop        {t.iterations} iterations x {t.prompts_per_iteration} prompts; K={t.responses_per_prompt} responses, "
        f"N={tr.best_of_n} extra for source arms, top Rp={tr.num_replace} replace",
        f"transfer    {tr.mode}: arms {arms}; UCB c={tr.ucb_c}, self win rate {tr.self_win_rate}, refresh every {tr.refresh_every}",
        f"optim       {cfg.optim.loss} beta={cfg.optim.beta} lr={cfg.optim.lr} epochs={cfg.optim.epochs} "
        f"reference={cfg.optim.reference}",
        f"oracle      {cfg.oracle.reward.kind}:{cfg.oracle.reward.model} labels={cfg.oracle.labels} "
        f"budget={cfg.oracle.budget or 'unlimited'} (at most {t.iterations * t.prompts_per_iteration} queries)",
        "",
        "actor                         CPU     GPU",
    ]
    rows = [(f"rollout x{cfg.rollout.num_actors}", cfg.rollout.num_cpus * cfg.rollout.num_actors, cfg.rollout.num_gpus * cfg.rollout.num_actors)]
    rows += [(f"reward {s.name} ({s.kind}: {s.model or 'default'})", s.num_cpus, s.num_gpus) for s in cfg.sources]
    rows += [(f"oracle ({cfg.oracle.reward.kind})", cfg.oracle.reward.num_cpus, cfg.oracle.reward.num_gpus)]
    gpu_per_worker = 1.0 if t.use_gpu else 0.0
    rows += [(f"learner x{t.num_workers} ({'nccl' if t.use_gpu else 'gloo'})", t.num_workers * t.cpus_per_worker, t.num_workers * gpu_per_worker)]
    lines += [f"{name[:28]:<28} {cpu:>5.2f} {gpu:>7.2f}" for name, cpu, gpu in rows]
    lines.append(f"{'total':<28} {sum(r[1] for r in rows):>5.2f} {sum(r[2] for r in rows):>7.2f}")
    return "\n".join(lines)


def dry_run(cfg: Config, output_dir: str | None = None) -> str:
    """The plan, after the checks that load nothing (:func:`rayrlhf.preflight.check_paths`); raises
    ``ConfigError`` naming every missing file, model directory or tracker package."""
    from rayrlhf.preflight import check_paths

    check_paths(cfg, output_dir)
    held = Path(cfg.run.output_dir) / "config.yaml"
    if output_dir is None and held.exists():
        raise ConfigError(f"{held.parent} already holds a run: continue it with `rayrlhf train --resume {held.parent}`, "
                          "or choose another run.output_dir")
    return describe_plan(cfg) + "\n\nchecked: tracker packages, local data file and model directories exist, " \
        f"{output_dir or cfg.run.output_dir} can be created (`train` also loads the data and model configs first)"
