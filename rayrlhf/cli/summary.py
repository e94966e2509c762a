"""What the terminal says at the end of a first run: a short reading of ``rayrlhf rewards evaluate``'s table, and of
a finished ``rayrlhf train`` run (with the file to open next)."""

from __future__ import annotations

from rayrlhf.core.metrics import MetricsRow


def reading_of_sources(rows: list[dict]) -> str:
    """One line: which source agrees with people most, and which orders pairs against them (agreement's 95% CI
    above / below one half)."""
    scored = sorted((r for r in rows if "agreement" in r), key=lambda r: -r["agreement"])
    if not scored:
        return "Reading: no source could be scored on these pairs."
    best = scored[0]
    shown = f"{best['agreement']:.3f} of the pairs, 95% CI [{best['ci_low']:.3f}, {best['ci_high']:.3f}]"
    if best["ci_low"] <= 0.5:
        return (f"Reading: no source agrees with people better than chance here (the best, {best['source']}: {shown}); "
                "neither transfer nor a label model has anything to learn from these sources: add better ones, or "
                "let people label.")
    line = f"Reading: {best['source']} agrees with people most ({shown})"
    against = [r["source"] for r in scored if r["ci_high"] < 0.5]
    useless = [r["source"] for r in scored if r["ci_low"] <= 0.5 <= r["ci_high"]]
    if against:
        line += f"; {', '.join(against)} order{'s' if len(against) == 1 else ''} pairs against them"
    if useless:
        line += f"; {', '.join(useless)} cannot be told from chance"
    return line + ". Transfer (transfer.mode: ucb) finds the good ones by itself; a label model weighs them all."


def run_summary(rows: list[MetricsRow], run_dir: str, wall_s: float, report: str | None, resumed: bool = False) -> list[str]:
    """The lines ``rayrlhf train`` ends with: held-out oracle score before and after, win rate against the initial
    policy, human and model labels (``rows``: every iteration of the run), this process's wall time, and where to
    look next."""
    last = rows[-1]
    e = last.eval
    took = f"{wall_s / 60:.1f} min" + (" since the resume" if resumed else "")
    lines = [f"rayrlhf train: {last.iteration} iteration(s), {took} -> {run_dir}"]
    if "oracle_score" in e:
        before = e.get("oracle_score_init")
        lines.append(f"  held-out oracle score: {before:.3f} -> {e['oracle_score']:.3f}" if before is not None
                     else f"  held-out oracle score: {e['oracle_score']:.3f}")
    if "win_rate_vs_init" in e:
        lines.append(f"  win rate against the initial policy: {e['win_rate_vs_init']:.3f} "
                     f"[{e.get('win_rate_vs_init_ci_low', float('nan')):.3f}, {e.get('win_rate_vs_init_ci_high', float('nan')):.3f}]")
    model = sum(r.label_model.get("model_labels", 0) for r in rows)
    labels = f"  human labels (paid): {last.oracle_queries}"
    lines.append(labels + (f"; model labels (never paid): {model:.0f}" if model else ""))
    if report:
        lines.append(f"Open {report} for the plots and tables (`rayrlhf report {run_dir}` rewrites it).")
    return lines


def format_pilot(pilot: dict) -> str:
    """The label model's pilot table (:func:`label_model_pilot`)."""
    def cell(s: dict) -> str:
        return f"{s['mean']:.3f} [{s['low']:.3f}, {s['high']:.3f}]"

    lines = ["", f"label model on these pairs (held-out accuracy, {pilot['curve'][0]['repeats']} random splits; "
             "[2.5%, 97.5%] of the splits)",
             f"{'fitted on':<10} {'held out':>8}  {'label model':<22} {'best single source':<22} {'mean of sources':<22}"]
    for r in pilot["curve"]:
        lines.append(f"{r['size']:<10} {r['held_out']:>8}  {cell(r['label_model']):<22} {cell(r['best_source']):<22} "
                     f"{cell(r['mean_of_sources']):<22}")
    shares = " / ".join(f"{c['share']:.2f} at {c['target']:g}" for c in pilot["confident"])
    delta = pilot["confident"][0]["delta"]
    lines.append(f"share of pairs it could label with a certified accuracy ({1 - delta:.0%} confidence; fitted on one "
                 f"half, certified on the other): {shares}")
    return "\n".join(lines)
