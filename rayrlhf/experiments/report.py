"""``rayrlhf report RUN_DIR``: tables and plots from the files of a ``train`` or ``compare`` run.

- Table-1 analogue: head-to-head win rate of ``ucb`` (else the first method run) vs each other method per iteration
  (``eval.samples_per_prompt`` sampled responses each per held-out prompt, the oracle decides, ties count
  half), mean and 95% t-interval over seeds; and ``ucb``'s paired oracle-score gap to each.
- Mean oracle score of held-out samples and of the chosen training responses per method.
- Each method vs the initial policy, the same way.
- Figure-2 analogue (``arms.py``): per iteration, the share of prompts each arm got, of the credits (people's; under
  `transfer.credit: labels` the label model's too), and its win rate.
- The source-quality table, labels spent, wall time and the timing breakdown per method.
- Labels to match (``labels_to_match.py``) and the ablation table (``ablation.py``: methods one piece apart).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from rayrlhf.algorithms.stats import Interval, mean_interval, score_summary, win_outcomes
from rayrlhf.annotate.ledger import ledger_answers
from rayrlhf.core.metrics import read_metrics
from rayrlhf.experiments import ablation, arms, guarantee, labels_to_match
from rayrlhf.experiments.provenance import resumed_section, run_settings, settings_section, world_section


def mean_row(values) -> dict:
    """A report row's estimate over seeds: ``mean``, ``ci_low``, ``ci_high``, ``n`` (:class:`Interval`)."""
    return mean_interval(values).to_json()


def _eval_scores(run: Path, iteration: int) -> list | None:
    """Oracle scores of a run's held-out samples at ``iteration`` (every table reads them; loaded once)."""
    path = run / "eval" / f"iter_{iteration}.json"
    return _load_scores(str(path), path.stat().st_mtime_ns) if path.is_file() else None


@lru_cache(maxsize=4096)
def _load_scores(path: str, mtime_ns: int) -> np.ndarray:
    return np.asarray(json.loads(Path(path).read_text())["oracle_scores"], dtype=float)


def _runs(root: Path) -> dict[str, dict[int, Path]]:
    """method -> seed -> run dir, for a compare dir or a single train run."""
    meta_path = root / "compare.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        out: dict[str, dict[int, Path]] = defaultdict(dict)
        for rel, info in meta["runs"].items():
            out[info["method"]][info["seed"]] = root / rel
        return out
    import yaml

    cfg = yaml.safe_load((root / "config.yaml").read_text())
    return {cfg["transfer"]["mode"]: {cfg["run"]["seed"]: root}}


def head_to_head(a: dict[int, Path], b: dict[int, Path] | None, iterations: list[int]) -> list[dict]:
    """Per iteration: A vs B (or vs the initial policy when ``b`` is None), mean and CI over shared seeds."""
    rows = []
    for it in iterations:
        per_seed = []
        for seed, run_a in a.items():
            sa = _eval_scores(run_a, it)
            sb = _eval_scores(run_a, 0) if b is None else (_eval_scores(b[seed], it) if seed in b else None)
            if sa is not None and sb is not None:
                per_seed.append(float(win_outcomes(sa, sb).mean()))
        rows.append({"iteration": it, **mean_row(per_seed)})
    return rows


def mean_score(run: Path, iteration: int) -> float | None:
    """Mean oracle score of a run's held-out samples, empty responses (scored with a sentinel) left out."""
    path = run / "eval" / f"iter_{iteration}.json"
    return _load_mean(str(path), path.stat().st_mtime_ns) if path.is_file() else None


@lru_cache(maxsize=4096)
def _load_mean(path: str, mtime_ns: int) -> float:
    data = json.loads(Path(path).read_text())
    return score_summary(data["oracle_scores"], data["responses"])["mean"]


def score_gap(a: dict[int, Path], b: dict[int, Path], iterations: list[int]) -> list[dict]:
    """Per iteration: mean oracle score of A's held-out samples minus B's, paired by seed (mean, t-CI).
    More sensitive than a win rate when per-sample noise is large next to the policies' difference."""
    rows = []
    for it in iterations:
        pairs = [(mean_score(a[s], it), mean_score(b[s], it)) for s in a if s in b]
        rows.append({"iteration": it, **mean_row([x - y for x, y in pairs if x is not None and y is not None])})
    return rows


def training_data_quality(runs: dict[int, Path], iterations: list[int]) -> list[dict] | None:
    """Per iteration: the oracle score of the chosen (best-ranked) response of each labelled query, mean over
    queries, then mean and t-CI over seeds; from the ledger, where the oracle backend records scores (the
    simulated oracle does; a human queue need not, and then there is no table)."""
    per_seed: dict[int, list[float]] = defaultdict(list)
    for run in runs.values():
        by_it: dict[int, list[float]] = defaultdict(list)
        for q in ledger_answers(run / "annotations.jsonl"):
            if q.get("scores") is None:
                return None
            if not q.get("ranking"):  # abstained (e.g. all responses tied)
                continue
            by_it[q["iteration"]].append(q["scores"][q["ranking"][0]])
        for it, chosen in by_it.items():
            per_seed[it].append(float(np.mean(chosen)))
    return [{"iteration": it, **mean_row(per_seed.get(it, []))} for it in iterations] if per_seed else None


def label_cost(runs) -> dict:
    """What the labels cost: ``oracle.cost_per_label`` x labels (when set) and people's median seconds per label
    (from the ledger's ``meta.seconds``, which the annotation app measures), means over seeds."""
    import yaml

    money, seconds, judge = [], [], []
    for run in runs:
        rows = ledger_answers(run / "annotations.jsonl")
        config = run / "config.yaml"
        price = ((yaml.safe_load(config.read_text()) or {}).get("oracle", {}).get("cost_per_label") or 0.0) if config.is_file() else 0.0
        if price:
            money.append(price * len(rows))
        timed = [r["meta"]["seconds"] for r in rows if isinstance(r.get("meta"), dict) and "seconds" in r["meta"]]
        if timed:
            seconds.append(float(np.median(timed)))
        judged = [r for r in rows if isinstance(r.get("meta"), dict) and "judge" in r["meta"]]
        if judged:
            judge.append(judge_usage(judged))
    return ({"oracle_cost": float(np.mean(money))} if money else {}) | (
        {"seconds_per_label": float(np.mean(seconds))} if seconds else {}) | (
        {k: float(np.mean([j[k] for j in judge])) for k in judge[0]} if judge else {})


def judge_usage(rows: list[dict]) -> dict:
    """An LLM judge oracle's tokens and price per label, the share of its answers that did not parse and of its
    labels that abstained (unparsed, a tie, or orders that disagree), from the ledger rows' ``meta.judge``
    (rayrlhf/annotate/judge_oracle.py)."""
    judged, n = [r["meta"]["judge"] for r in rows], len(rows)
    return {"judge_tokens_per_label": sum(j["prompt_tokens"] + j["completion_tokens"] for j in judged) / n,
            "judge_cost_per_label": sum(j["cost"] for j in judged) / n,
            "judge_unparsed_share": sum(j["calls"] - j["parsed"] for j in judged) / sum(j["calls"] for j in judged),
            "judge_abstained_share": sum(not r.get("ranking") for r in rows) / n}


def _fmt(c: Interval | dict) -> str:
    c = c if isinstance(c, Interval) else Interval.from_json(c)
    if np.isnan(c.mean):
        return "-"
    return f"{c.mean:.3f}" if np.isnan(c.low) else f"{c.mean:.3f} ± {(c.high - c.low) / 2:.3f}"


def _ci_table(first: str, rows_by_name: dict[str, list[dict]]) -> list[str]:
    """A markdown table: one row per name, one ``mean ± half-width`` cell per iteration, then a blank line."""
    its = [r["iteration"] for r in next(iter(rows_by_name.values()))]
    return [f"| {first} | " + " | ".join(f"iter {i}" for i in its) + " |", "|---|" + "---|" * len(its),
            *[f"| {name} | " + " | ".join(_fmt(c) for c in rows) + " |" for name, rows in rows_by_name.items()], ""]


# report.csv: (table, whether its rows are keyed by ucb's baseline rather than by method), in file order
CSV_TABLES = [("ucb_vs", True), ("vs_init", False), ("ucb_score_gap", True), ("chosen_oracle_score", False),
              ("oracle_score", False)]


def _comparison(runs: dict, iterations: list[int], out: dict) -> list[str]:
    """Table-1 analogue: the reference method (``ucb``, else the first) head to head with each other method."""
    methods = list(runs)
    ref = out["reference"] = "ucb" if "ucb" in runs else methods[0]
    if len(methods) < 2:
        return []
    table1 = out["ucb_vs"] = {b: head_to_head(runs[ref], runs[b], iterations) for b in methods if b != ref}
    gaps = out["ucb_score_gap"] = {b: score_gap(runs[ref], runs[b], iterations) for b in methods if b != ref}
    return [f"## Win rate of `{ref}` vs each baseline (Table-1 analogue)", "",
            "Head to head on held-out prompts: `eval.samples_per_prompt` sampled responses each (sample j meets "
            "sample j), the oracle decides, ties count half. Mean ± 95% t-interval half-width over seeds.", "",
            *_ci_table("vs", table1),
            f"Oracle score of `{ref}`'s held-out samples minus the baseline's (same seed), mean ± 95% t-interval:", "",
            *_ci_table("vs", gaps)]


def _quality(runs: dict, iterations: list[int], out: dict) -> list[str]:
    """Held-out oracle scores, the chosen training responses' scores and each method vs the initial policy."""
    scores = out["oracle_score"] = {
        m: [{"iteration": it, **mean_row([v for v in (mean_score(r, it) for r in by_seed.values()) if v is not None])}
            for it in [0, *iterations]] for m, by_seed in runs.items()}
    lines = ["## Mean oracle score of held-out samples (iteration 0: the initial policy)", "", *_ci_table("method", scores)]
    data = {m: training_data_quality(by_seed, iterations) for m, by_seed in runs.items()}
    if all(rows is not None for rows in data.values()):
        out["chosen_oracle_score"] = data
        lines += ["## Training data: oracle score of the chosen response (mean over labelled queries)", "",
                  "What transfer changes first: the best of the K responses the oracle saw.", "", *_ci_table("method", data)]
    vs_init = out["vs_init"] = {m: head_to_head(by_seed, None, iterations) for m, by_seed in runs.items()}
    return lines + ["## Each method vs the initial policy", "", *_ci_table("method", vs_init)]


def _costs(root: Path, runs: dict, out: dict) -> list[str]:
    """Labels, their cost, wall time and the per-iteration timing breakdown per method."""
    cost = out["cost"] = {}
    meta = json.loads((root / "compare.json").read_text()) if (root / "compare.json").is_file() else {}
    for m, by_seed in runs.items():
        rows = {seed: read_metrics(run) for seed, run in by_seed.items()}
        last = [r[-1].oracle_queries if r else 0 for r in rows.values()]
        all_rows = [r for seed_rows in rows.values() for r in seed_rows]
        timing = {f"timing/{k}": float(np.mean([r.timing[k] for r in all_rows if k in r.timing]))
                  for k in sorted({k for r in all_rows for k in r.timing}) if k != "startup_s"}
        walls = [v["wall_s"] for v in meta.get("runs", {}).values() if v["method"] == m]
        cost[m] = {"oracle_labels": float(np.mean(last)),
                   "wall_s": float(np.mean(walls)) if walls else None, **label_cost(by_seed.values()), **timing}
    keys = sorted({k for c in cost.values() for k in c})
    return ["## Labels, wall time and timing per method (means over seeds; timing per iteration)", "",
            "| method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys),
            *[f"| {m} | " + " | ".join("-" if c.get(k) is None else f"{c[k]:.1f}" for k in keys) + " |" for m, c in cost.items()]]


LABEL_MODEL_COLUMNS = ("human_labels", "model_labels", "accuracy", "accuracy_mean", "best_source", "brier", "ece",
                       "spot_accuracy", "oracle_accuracy")


def _label_model(root: Path, runs: dict, out: dict) -> list[str]:
    """Routed methods (``oracle.route``): per iteration, the label model's held-out accuracy next to the mean of the
    sources and the best single source, its calibration, its spot checks and its labels' agreement with the oracle."""
    lines: list[str] = []
    out["label_model"] = {}
    for m, by_seed in runs.items():
        rows = [r for run in by_seed.values() for r in read_metrics(run)]
        if not any(r.label_model for r in rows):
            continue
        table = out["label_model"][m] = {}
        for it in sorted({r.iteration for r in rows}):
            cells = defaultdict(list)
            for r in (r for r in rows if r.iteration == it):
                lm = dict(r.label_model)
                singles = [v for k, v in lm.items() if k.startswith("source_accuracy/") and v == v]
                lm["best_source"] = max(singles) if singles else float("nan")
                for k in LABEL_MODEL_COLUMNS:
                    if lm.get(k) is not None and lm[k] == lm[k]:
                        cells[k].append(float(lm[k]))
            table[it] = {k: float(np.mean(v)) for k, v in cells.items()}
        plot = _plot_reliability(root, m, by_seed)
        lines += [f"## Label model: `{m}` (means over seeds)", "",
                  "Held-out: each round's human answers scored by the model before it is refitted on them (pairs they "
                  "state, both orientations). `accuracy_mean`: the unweighted mean of the standardised sources; "
                  "`best_source`: the best single source on the same pairs. `spot_accuracy`: the model's labels on "
                  "spot-checked prompts against people's; `oracle_accuracy`: its labels against the simulated oracle.", "",
                  "| iteration | " + " | ".join(LABEL_MODEL_COLUMNS) + " |", "|---|" + "---|" * len(LABEL_MODEL_COLUMNS),
                  *[f"| {it} | " + " | ".join("-" if k not in row else f"{row[k]:.3f}" if k not in ("human_labels", "model_labels")
                                              else f"{row[k]:.0f}" for k in LABEL_MODEL_COLUMNS) + " |" for it, row in table.items()],
                  "", *([f"![reliability]({plot.name})", ""] if plot else [])]
    return lines


def _plot_reliability(root: Path, method: str, by_seed: dict[int, Path]) -> Path | None:
    """Reliability diagram of the last iteration's held-out answers, bins pooled over seeds."""
    bins = []
    for run in by_seed.values():
        files = sorted((run / "label_model").glob("iter_*.json"), key=lambda f: int(f.stem.split("_")[1]))
        bins += json.loads(files[-1].read_text())["reliability"] if files else []
    if not bins:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.scatter([b[0] for b in bins], [b[1] for b in bins], s=[max(4.0, b[2] / 4) for b in bins])
    ax.set(xlabel="predicted P(order)", ylabel="observed share", title=f"label model reliability: {method}")
    fig.tight_layout()
    path = root / f"reliability_{method.replace(':', '_').replace('+', '_').replace('@', '_x')}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _source_quality(root: Path, out: dict) -> list[str]:
    quality = root / "source_quality.json"
    if not quality.is_file():
        return []
    from rayrlhf.rewards.evaluate import format_table

    q = json.loads(quality.read_text())
    out["source_quality"] = q["sources"]
    return ["## Source quality (agreement with the oracle on initial-policy pairs)", "", "```", format_table(q["sources"]), "```", ""]


def _write_csv(path: Path, out: dict) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["table", "method", "vs", "iteration", "mean", "ci_low", "ci_high", "seeds"])
        for table, by_baseline in CSV_TABLES:
            for name, rows in out.get(table, {}).items():
                method, vs = (out["reference"], name) if by_baseline else (name, "init" if table == "vs_init" else "")
                for r in rows:
                    w.writerow([table, method, vs, r["iteration"], r["mean"], r["ci_low"], r["ci_high"], r["n"]])


def write_report(root: str | Path) -> Path:
    """``report.md``, ``report.json``, ``report.csv`` and the plots of a ``train`` or ``compare`` directory."""
    root = Path(root)
    runs = _runs(root)
    if not runs:
        raise ValueError(f"{root}: no runs found (expected compare.json or config.yaml + metrics.jsonl)")
    iterations = sorted({r.iteration for m in runs.values() for run in m.values() for r in read_metrics(run)
                         if (run / "eval" / f"iter_{r.iteration}.json").is_file()})  # eval.every skips some
    out: dict = {"iterations": iterations, "methods": list(runs)}
    settings = run_settings(root)
    lines = [f"# rayrlhf report: {root.name}", "", *settings_section(settings), *_comparison(runs, iterations, out)]
    budgets = labels_to_match.section(root, runs, mean_score, _fmt)
    if budgets:
        lines += budgets[0]
        out["labels_to_match"] = budgets[1]
    pieces = ablation.section(runs, mean_score, _fmt, settings)
    if pieces:
        lines += pieces[0]
        out["ablation"] = pieces[1]
    certified = guarantee.section(runs)
    if certified:
        lines += certified[0]
        out["guarantee"] = certified[1]
    lines += [*_quality(runs, iterations, out), *_label_model(root, runs, out), *arms.section(root, runs, out), *_source_quality(root, out),
              *_costs(root, runs, out), *world_section([d for m in runs.values() for d in m.values()]),
              *resumed_section(root)]
    (root / "report.md").write_text("\n".join(lines) + "\n")
    (root / "report.json").write_text(json.dumps(out, indent=1))
    _write_csv(root / "report.csv", out)
    return root / "report.md"
