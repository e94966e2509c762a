"""The report's ablation table: what one piece changes, method by method (README, "What it saves").

Two methods of a compare are an ablation pair when they differ in exactly one piece at the same label multiple:
the transfer (``MODE``: ``none`` has none, so ``none+uncertain`` -> ``ucb+uncertain`` adds ``transfer.mode=ucb``), one
``+OPTION`` (``oracle.query_selection``, ``transfer.pairs``, ``oracle.route``, ``transfer.ensemble``) or one
``[KEY=VALUE]`` override, added or changed. The base is the method with the piece absent, or, when both set it, the
one listed first. For each pair: the paired difference of the held-out oracle score after the last iteration
(same seeds: same prompts and evaluation samples), mean and 95% t-interval, and whether the interval excludes 0.
"""

from __future__ import annotations

from pathlib import Path

from rayrlhf.algorithms.stats import mean_interval
from rayrlhf.experiments.methods import MethodSpec, parse_method


def pieces(spec: MethodSpec) -> dict[str, str]:
    """A method's pieces: config key -> value as written (``none``, plain online DPO, has no transfer piece)."""
    out = {k: v for k, v in (("transfer.mode", None if spec.mode == "none" else spec.mode),
                             ("oracle.query_selection", spec.selection), ("transfer.pairs", spec.pairs),
                             ("oracle.route", {"route_random": "random"}.get(spec.route, spec.route))) if v}
    if spec.ensemble:
        out["transfer.ensemble"] = "true"
    out.update(spec.overrides)
    return out


def ablation_pairs(methods: list[str], settings: dict[str, dict[str, str]] | None = None) -> list[tuple[str, str, str]]:
    """(base, variant, the piece as ``key=value``) for every pair of ``methods`` one piece apart, counting the
    ``settings`` a method ran with beyond its name (a joined report's, :func:`provenance.run_settings`)."""
    specs = {m: parse_method(m) for m in methods}
    settings = settings or {}
    out = []
    for i, base in enumerate(methods):
        for variant in methods:
            a, b = specs[base], specs[variant]
            if variant == base or a.multiple != b.multiple:
                continue
            pa, pb = pieces(a) | settings.get(base, {}), pieces(b) | settings.get(variant, {})
            differ = [k for k in pa.keys() | pb.keys() if pa.get(k) != pb.get(k)]
            if len(differ) != 1 or differ[0] not in pb:
                continue
            key = differ[0]
            if key in pa and methods.index(variant) < i:  # both set it: the one listed first is the base
                continue
            out.append((base, variant, f"{key}={pb[key]}"))
    return out


def section(runs: dict[str, dict[int, Path]], score, fmt,
            settings: dict[str, dict[str, str]] | None = None) -> tuple[list[str], list[dict]] | None:
    """The markdown lines and the rows (``report.json``'s ``ablation``); None without any ablation pair.
    ``score(run, iteration)`` is the mean held-out oracle score, ``fmt`` the report's ``mean ± half-width``."""
    from rayrlhf.core.metrics import read_metrics

    def final(run: Path) -> float | None:
        rows = read_metrics(run)
        return score(run, rows[-1].iteration) if rows else None

    rows = []
    for base, variant, piece in ablation_pairs(list(runs), settings):
        seeds = sorted(set(runs[base]) & set(runs[variant]))
        pairs = [(final(runs[variant][s]), final(runs[base][s])) for s in seeds]
        diffs = [v - b for v, b in pairs if v is not None and b is not None]
        if not diffs:
            continue
        d = mean_interval(diffs)
        rows.append({"base": base, "variant": variant, "piece": piece, "seeds": len(diffs),
                     "base_score": mean_interval([b for _, b in pairs if b is not None]).to_json(),
                     "variant_score": mean_interval([v for v, _ in pairs if v is not None]).to_json(),
                     "difference": d.to_json(), "significant": bool(d.low > 0 or d.high < 0)})
    if not rows:
        return None
    lines = ["## Ablation: one piece at a time", "",
             "Methods one piece apart (an added or changed +OPTION or [KEY=VALUE]), the held-out oracle score after the "
             "last iteration on the seeds both ran, and the paired difference (variant - base), mean ± 95% t-interval.", "",
             "| piece | base | variant | seeds | base score | variant score | difference | excludes 0 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['piece']}` | `{r['base']}` | `{r['variant']}` | {r['seeds']} | {fmt(r['base_score'])} | "
                     f"{fmt(r['variant_score'])} | {fmt(r['difference'])} | {'yes' if r['significant'] else 'no'} |")
    return lines + [""], rows
