"""``rayrlhf theory lemma|regret``: tables, JSON and PNG plots (numpy/scipy only)."""

from __future__ import annotations

import json
from pathlib import Path


def lemma_command(instances: int, as_json: bool) -> str:
    from rayrlhf.theory.lemma import beta_to_zero_counterexample, check_lemma

    result = {"lemma_3_1": check_lemma(instances), "beta_to_zero": beta_to_zero_counterexample()}
    if as_json:
        return json.dumps(result, indent=1)
    r = result["lemma_3_1"]
    lines = [f"Lemma 3.1 on {r['instances']} random instances ({r['policies']} policies: sources' pi*_r, pi_ref, mixtures)",
             f"  max Cov/bound            {r['max_cov_over_bound']:.6f}   (must be <= 1)",
             f"  max (Cov-1)/(bound-1)    {r['max_excess_ratio']:.6f}   (how tight the bound gets)", "  tightest cases:"]
    lines += [f"    S={w['S']} A={w['A']} beta={w['beta']:.3f} gap={w['gap']:.4g} Cov={w['coverage']:.5f} bound={w['bound']:.5f}"
              for w in r["tightest"]]
    lines += ["", "beta -> 0 (r* = (1, 0.9), pi optimal for the swapped reward):", "  beta    gap      Cov(pi*|pi)   bound"]
    lines += [f"  {row['beta']:<6g}  {row['gap']:.4f}   {row['coverage']:<12.4g}  {row['bound']:.3g}" for row in result["beta_to_zero"]]
    return "\n".join(lines)


def regret_command(as_json: bool, plot_dir: str | None, seeds: int, T: int, width_c: float = 1.0,
                   selection: str = "fisher", delays: tuple = (0,)) -> str:
    from rayrlhf.theory.regret import SCENARIOS, regret_curves

    results = {name: regret_curves(name, seeds=seeds, T=T, width_c=width_c, selection=selection, delays=delays)
               for name in SCENARIOS}
    if plot_dir:
        _plot(results, Path(plot_dir))
    if as_json:
        return json.dumps(results, indent=1)
    lines = []
    for name, res in results.items():
        lines += [f"{name} (source quality {res['quality']}, beta={res['beta']}, T={res['T']}, {res['seeds']} seeds, "
                  f"bonus c={res['width_c']}, selection {res['selection']} z={res['selection_z']:.2f})",
                  f"  {'algorithm':<24} {'regret@T/10':>12} {'regret@T':>10} {'sd':>7} {'late slope':>11}"]
        for algo, v in res["algorithms"].items():
            lines.append(f"  {algo:<24} {v['early']:>12.2f} {v['final']:>10.2f} {v['final_sd']:>7.2f} {v['late_slope']:>11.3f}")
        for algo, v in res["algorithms"].items():
            if "arm_counts" in v:
                counts = ", ".join(f"{arm} {n:.1f}" for arm, n in v["arm_counts"].items())
                lines.append(f"  {algo} prompts per arm (mean over seeds, of {res['T']}): {counts}")
        lines.append("")
    return "\n".join(lines)


def regret_figure(res: dict):
    """One scenario's cumulative regret curves, one line per algorithm (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    step = max(1, res["T"] // 100)
    for algo, v in res["algorithms"].items():
        ax.plot(range(step, res["T"] + 1, step)[: len(v["curve"])], v["curve"], label=algo,
                linestyle="--" if algo == "tpo_nosource" else "-")
    ax.set(xscale="log", yscale="log", xlabel="labels t", ylabel="cumulative regret", title=res["scenario"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot(results: dict, out: Path) -> None:
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    for name, res in results.items():
        fig = regret_figure(res)
        fig.savefig(out / f"regret_{name}.png", dpi=100)
        plt.close(fig)
