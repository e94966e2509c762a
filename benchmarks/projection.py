"""A cost model of one iteration, fitted to the growth benchmark and used to project a larger run (pure functions).

Work per iteration of a run shaped ``(M prompts, K, N, W sources, f = share of prompts on source arms)``:

- generate: ``M*K + f*M*N`` samples (the rollout actors split them: ``/ R``);
- score: each source arm scores ``f*M/W * N`` responses; the sources score in parallel (each actor on its own
  resources: the stage costs the slowest source) or one after another (the sum);
- annotate: the oracle scores ``M*K`` responses;
- train: ``M`` pairs, ``epochs`` passes (the learner's workers split them: ``/ L``);
- eval: ``P*S`` held-out samples generated (``/ R``) and scored by the oracle (one cost per sample).

Stage seconds are ``fixed + per_unit * work``; the per-unit costs come from :func:`fit_line` over the growth points
(or from a GPU measurement), so a projection says which stage dominates at a shape, and what placement (R, L,
parallel sources) buys, on the hardware the costs were measured on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shape:
    prompts: int  # M
    k: int
    n: int
    sources: int  # W
    source_share: float  # f: share of the prompts on source arms
    epochs: int = 1
    eval_samples: int = 0  # P * S
    rollout_actors: int = 1  # R
    learner_workers: int = 1  # L


@dataclass(frozen=True)
class UnitCosts:
    """Seconds per unit of work (one worker/actor), plus fixed seconds per stage per iteration."""

    gen_per_sample: float
    score_per_response: dict[str, float]  # per source name (or kind)
    oracle_per_response: float
    train_per_pair_epoch: float
    weight_sync: float = 0.0
    eval_per_sample: float | None = None  # one held-out sample generated and scored; None: gen + oracle
    fixed: dict[str, float] = field(default_factory=dict)


def work(shape: Shape) -> dict[str, float]:
    """Units of work per stage (hardware-free)."""
    extra_prompts = shape.source_share * shape.prompts
    return {"generated_samples": shape.prompts * shape.k + extra_prompts * shape.n,
            "scored_per_source": extra_prompts / max(1, shape.sources) * shape.n,
            "oracle_scored": shape.prompts * shape.k,
            "pair_epochs": shape.prompts * shape.epochs,
            "eval_samples": shape.eval_samples}


def project(shape: Shape, costs: UnitCosts, parallel_sources: bool = True) -> dict[str, float]:
    """Seconds per stage of one iteration and their sum (``iteration``)."""
    if len(costs.score_per_response) != shape.sources:
        raise ValueError(f"costs give {len(costs.score_per_response)} sources' scoring costs for a shape with W={shape.sources}")
    w, fixed = work(shape), costs.fixed
    per_source = [w["scored_per_source"] * c for c in costs.score_per_response.values()]
    eval_per_sample = costs.eval_per_sample if costs.eval_per_sample is not None else costs.gen_per_sample + costs.oracle_per_response
    stages = {
        "generate": fixed.get("generate", 0.0) + w["generated_samples"] * costs.gen_per_sample / shape.rollout_actors,
        "score": fixed.get("score", 0.0) + ((max(per_source) if per_source else 0.0) if parallel_sources else sum(per_source)),
        "annotate": fixed.get("annotate", 0.0) + w["oracle_scored"] * costs.oracle_per_response,
        "train": fixed.get("train", 0.0) + w["pair_epochs"] * costs.train_per_pair_epoch / shape.learner_workers,
        "weight_sync": costs.weight_sync,
        "eval": fixed.get("eval", 0.0) + w["eval_samples"] * eval_per_sample / shape.rollout_actors,
    }
    return stages | {"iteration": sum(stages.values())}


def dominant(stages: dict[str, float]) -> tuple[str, float]:
    """The stage with the largest share of the iteration, and that share."""
    parts = {k: v for k, v in stages.items() if k != "iteration"}
    name = max(parts, key=parts.get)
    total = sum(parts.values())
    return name, (parts[name] / total if total else 0.0)


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b*x``: (a, b). With one distinct x, the line through the origin and the mean."""
    n = len(xs)
    if n == 0 or n != len(ys):
        raise ValueError(f"fit_line needs as many ys as xs (got {len(xs)} and {len(ys)}), at least one")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, (my / mx if mx else 0.0)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - b * mx, b


def fit_costs(points: Sequence[dict], score_per_response: dict[str, float], weight_sync: float) -> UnitCosts:
    """Unit costs from growth points (each with ``work`` and ``stage_s`` dicts as :mod:`benchmarks.growth` records
    them). Negative fitted intercepts (noise at small sizes) are clipped to 0."""
    def line(stage: str, unit: str) -> tuple[float, float]:
        a, b = fit_line([p["work"][unit] for p in points], [p["stage_s"][stage] for p in points])
        return max(0.0, a), max(0.0, b)

    (g0, g), (a0, a), (t0, t) = line("generate", "generated_samples"), line("annotate", "oracle_scored"), line("train", "pair_epochs")
    eval_per_sample = sum(p["stage_s"]["eval"] for p in points) / max(1e-9, sum(p["work"]["eval_samples"] for p in points))
    return UnitCosts(gen_per_sample=g, score_per_response=score_per_response, oracle_per_response=a,
                     train_per_pair_epoch=t, weight_sync=weight_sync, eval_per_sample=eval_per_sample,
                     fixed={"generate": g0, "annotate": a0, "train": t0})
