"""``rayrlhf train --dry-run``: what a config will do and what it asks of the cluster, loading nothing
(local data files and model directories are checked to exist)."""

from __future__ import annotations

from pathlib import Path

from rayrlhf.config import Config, ConfigError


def describe_plan(cfg: Config) -> str:
    from rayrlhf.algorithms.transfer import self_win_rate
    from rayrlhf.core.placement import resource_table
    from rayrlhf.run.coordinator import arms_for

    t, tr = cfg.train, cfg.transfer
    bar = self_win_rate(tr.self_win_rate, tr.num_replace, t.responses_per_prompt)
    lines = [
        f"policy      {cfg.policy.model} ({cfg.rollout.backend} rollouts, max {cfg.rollout.max_new_tokens} new tokens)",
        f"data        {cfg.data.dataset} split={cfg.data.split} prompt_field={cfg.data.prompt_field} "
        f"reference_field={cfg.data.reference_field} template={cfg.data.prompt_template!r}",
        f"loop        {t.iterations} iterations x {t.prompts_per_iteration} prompts; K={t.responses_per_prompt} responses, "
        f"N={tr.best_of_n} extra for source arms, top Rp={tr.num_replace} replace",
        f"transfer    {tr.mode}: arms {list(arms_for(cfg))}; UCB c={tr.ucb_c}, self bar {bar:g}, refresh every {tr.refresh_every}",
        f"optim       {cfg.optim.loss} beta={cfg.optim.beta} lr={cfg.optim.lr} epochs={cfg.optim.epochs} "
        f"{'' if cfg.optim.max_steps is None else f'max_steps={cfg.optim.max_steps} '}reference={cfg.optim.reference}",
        f"oracle      {cfg.oracle.backend}: {cfg.oracle.reward.kind}:{cfg.oracle.reward.model} labels={cfg.oracle.labels} "
        f"budget={cfg.oracle.budget or 'unlimited'} (at most {t.iterations * t.prompts_per_iteration} queries)",
        "",
        "actor                         CPU     GPU",
    ]
    rows = resource_table(cfg)
    lines += [f"{row.name[:28]:<28} {row.cpus:>5.2f} {row.gpus:>7.2f}" for row in rows]
    lines.append(f"{'total':<28} {sum(r.cpus for r in rows):>5.2f} {sum(r.gpus for r in rows):>7.2f}")
    return "\n".join(lines)


def dry_run(cfg: Config, output_dir: str | None = None) -> str:
    """The plan, after the checks that load nothing (:func:`rayrlhf.run.preflight.check_paths`); raises
    ``ConfigError`` naming every missing file, model directory or tracker package."""
    from rayrlhf.run.preflight import check_paths

    check_paths(cfg, output_dir)
    held = Path(cfg.run.output_dir) / "config.yaml"
    if output_dir is None and held.exists():
        raise ConfigError(f"{held.parent} already holds a run: continue it with `rayrlhf train --resume {held.parent}`, "
                          "or choose another run.output_dir")
    return describe_plan(cfg) + "\n\nchecked: tracker packages, local data file and model directories exist, " \
        f"{output_dir or cfg.run.output_dir} can be created (`train` also loads the data and model configs first)"
