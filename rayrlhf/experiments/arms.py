"""The report's Figure-2 analogue: per iteration, the share of the prompts each arm was given, the share of people's
credits it got and its win rate (means over seeds).

The two shares differ when not every prompt is credited: under a routing rule people answer only part of each round
(with ``transfer.credit: people``, the default, the label model's answers credit no arm), so an arm that UCB keeps
choosing while nobody answers takes many prompts and few credits. The prompts come from the run's saved rounds
(``rounds/iter_N.jsonl``, each item's ``arm``); a run without them shows the credited share only."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from rayrlhf.core.metrics import read_metrics
from rayrlhf.core.run_dir import RunDir


def prompt_shares(run: Path, iteration: int) -> dict[str, float] | None:
    """Each arm's share of the prompts of the iteration's saved rounds, or None where the run kept none."""
    arms = Counter(item["arm"] for round_items in RunDir(run).saved_rounds(iteration) for item in round_items)
    total = sum(arms.values())
    return {arm: n / total for arm, n in arms.items()} if total else None


def arm_allocation(runs: dict[int, Path]) -> dict[int, dict[str, dict]]:
    """iteration -> arm -> {"share" (of prompts; the credited share where a run kept no rounds), "credited",
    "win_rate"}, each the mean over seeds."""
    acc: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for run in runs.values():
        for row in read_metrics(run):
            total = sum(arm.count for arm in row.arms.values()) or 1
            prompts = prompt_shares(run, row.iteration)
            for name, arm in row.arms.items():
                credited = arm.count / total
                share = credited if prompts is None else prompts.get(name, 0.0)
                acc[row.iteration][name].append((share, credited, arm.win_rate))

    def mean_rate(values):
        rates = [w for *_, w in values if w is not None]
        return float(np.mean(rates)) if rates else None

    return {it: {a: {"share": float(np.mean([s for s, _, _ in v])), "credited": float(np.mean([c for _, c, _ in v])),
                     "win_rate": mean_rate(v)} for a, v in arms.items()} for it, arms in sorted(acc.items())}


def _cell(arm: dict | None) -> str:
    if arm is None:
        return "-"
    rate = "-" if arm["win_rate"] is None else f"{arm['win_rate']:.2f}"
    return f"{arm['share']:.2f} / {arm['credited']:.2f} ({rate})"


def _plot(alloc: dict[int, dict[str, dict]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    its = sorted(alloc)
    arms = sorted({a for v in alloc.values() for a in v})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    bottom = np.zeros(len(its))
    for a in arms:
        share = np.array([alloc[i].get(a, {}).get("share", 0.0) for i in its])
        ax1.bar([str(i) for i in its], share, bottom=bottom, label=a)
        bottom += share
        wr = [alloc[i].get(a, {}).get("win_rate") for i in its]
        ax2.plot(its, [np.nan if w is None else w for w in wr], marker="o", label=a)
    ax1.set(title="share of prompts per arm", xlabel="iteration", ylabel="share")
    ax2.set(title="arm win rate vs the online policy", xlabel="iteration", ylabel="win rate", xticks=its)
    ax1.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def section(root: Path, runs: dict[str, dict[int, Path]], out: dict) -> list[str]:
    """The report's lines per method with more than one arm (plot, table); ``out["arm_allocation"]`` the numbers."""
    lines: list[str] = []
    out["arm_allocation"] = {}
    for m, by_seed in runs.items():
        alloc = out["arm_allocation"][m] = arm_allocation(by_seed)
        arms = sorted({a for v in alloc.values() for a in v})
        if len(arms) < 2:
            continue
        png = root / f"arms_{m.replace(':', '_')}.png"
        _plot(alloc, png, f"arm allocation: {m}")
        lines += [f"## Arm allocation and win rates: `{m}` (Figure-2 analogue)", "", f"![arms]({png.name})", "",
                  "| iteration | " + " | ".join(arms) + " |", "|---|" + "---|" * len(arms),
                  *[f"| {it} | " + " | ".join(_cell(row.get(a)) for a in arms) + " |" for it, row in alloc.items()],
                  "", ("Cells: share of the prompts the arm was given / share of the credits, from people's answers and, "
                   "under `transfer.credit: labels`, the label model's (arm win rate)."), ""]
    return lines
