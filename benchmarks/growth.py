"""Benchmark 6: how one iteration's time and peak memory grow with the number of sources W (1, 3, 6, 12), K, N
and the prompts per iteration M; a cost model fitted to those points; and a projection of the
``examples/xsum_t5small.yaml`` shape with it (:mod:`benchmarks.projection`).

One rollout engine and one learner serve every point (each point starts from the initial policy: ``Workers.reset``);
reward actors are added as W grows (W sources cycle through the config's sources, renamed) and the extras removed
after the W sweep. Each point is one pipeline iteration (:class:`rayrlhf.run.loop.Pipeline`), its peak memory the PSS
of the whole process tree (driver, Ray, every actor and engine) while it ran.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import PeakMemory, Section, log
from benchmarks.projection import Shape, dominant, fit_costs, project, work

W_SWEEP = (1, 3, 6, 12)
# logical CPUs asked by each reward actor the W sweep adds: they must fit beside the run's own reservation and the
# CPU Ray Data's split needs (on 2 cores logical CPUs are a scheduling budget, not cores)
EXTRA_SOURCE_CPUS = 0.05


def sources_for(cfg, w: int) -> list:
    """``w`` sources cycling through ``cfg.sources`` (copies renamed ``<name>_<j>`` after the first pass)."""
    base = cfg.sources
    return [base[i % len(base)].model_copy(update={"name": base[i % len(base)].name + (f"_{i // len(base)}" if i >= len(base) else "")})
            for i in range(w)]


def grid(cfg) -> list[dict]:
    """The points, ordered so that no reward actor is started twice: the base (the config's W, K, N and M/2), K, N
    and M halved and doubled, then the rest of the W sweep, largest first. ``num_replace`` follows K and N where it
    must (0 < Rp < K, Rp <= N)."""
    k, n, m = cfg.train.responses_per_prompt, cfg.transfer.best_of_n, max(2, cfg.train.prompts_per_iteration // 2)
    w = len(cfg.sources)
    points = [{"sweep": "base", "W": w, "K": k, "N": n, "M": m}]
    points += [{"sweep": "K", "W": w, "K": x, "N": n, "M": m} for x in (max(2, k // 2), k * 2)]
    points += [{"sweep": "N", "W": w, "K": k, "N": x, "M": m} for x in (max(1, n // 2), n * 2)]
    points += [{"sweep": "M", "W": w, "K": k, "N": n, "M": x} for x in (max(2, m // 2), m * 2)]
    points += [{"sweep": "W", "W": x, "K": k, "N": n, "M": m} for x in sorted(W_SWEEP, reverse=True) if x != w]
    return points


def sweep(points: list[dict], key: str) -> list[dict]:
    """The points of one sweep with the base point, in increasing ``key``."""
    return sorted((p for p in points if p["sweep"] in (key, "base")), key=lambda p: p[key])


def point_config(cfg, p: dict):
    from rayrlhf.config import Config

    raw = cfg.model_dump(mode="json")
    raw["sources"] = [s.model_dump(mode="json") for s in sources_for(cfg, p["W"])]
    raw["train"] |= {"responses_per_prompt": p["K"], "prompts_per_iteration": p["M"], "iterations": 1}
    rp = min(cfg.transfer.num_replace, p["K"] - 1, p["N"])
    raw["transfer"] |= {"best_of_n": p["N"], "num_replace": rp}
    return Config.model_validate(raw)


def point_work(cfg, row: dict, eval_prompts: int) -> dict[str, float]:
    """The work one iteration did, from its metrics row (arm counts give the prompts on source arms)."""
    on_sources = sum(v for k, v in row.items() if k.startswith("arm/") and k.endswith("/count") and k != "arm/self/count")
    w, m, k, n = len(cfg.sources), cfg.train.prompts_per_iteration, cfg.train.responses_per_prompt, cfg.transfer.best_of_n
    return {"generated_samples": m * k + on_sources * n, "scored_per_source": on_sources * n / max(1, w),
            "oracle_scored": m * k, "pair_epochs": row["train/pairs"] * cfg.optim.epochs,
            "eval_samples": eval_prompts * cfg.eval.samples_per_prompt}


def run_points(cfg, workers, init_dir: str, out: Path) -> list[dict]:
    import ray

    from rayrlhf.core.run_dir import RunDir
    from rayrlhf.rewards.actor import reward_actor
    from rayrlhf.run.loop import Pipeline

    points, eval_init = [], None
    for i, p in enumerate(grid(cfg)):
        pcfg = point_config(cfg, p)
        for s in pcfg.sources:  # reward actors for the sources this point adds, beside the run's placement group
            if s.name not in workers.sources:
                light = s.model_copy(update={"num_cpus": EXTRA_SOURCE_CPUS})
                workers.sources[s.name] = reward_actor(light, cfg.task, max_restarts=cfg.run.max_restarts)
        for name in [n for n in workers.sources if n not in {s.name for s in pcfg.sources}]:  # and none it does not use
            ray.kill(workers.sources.pop(name))
        workers.reset(init_dir)
        run = RunDir(out / f"point_{i}")
        run.root.mkdir(parents=True, exist_ok=True)
        pipe = Pipeline(pcfg, run, False, workers=workers, eval_init=eval_init)
        eval_init = eval_init or json.loads((run.root / "eval" / "iter_0.json").read_text())
        # every reward actor loaded and past its first call before timing
        ray.get([a.score.remote([pipe.train_rows[0]["prompt"]], [" warm-up."], [pipe.train_rows[0].get("reference")])
                 for a in workers.sources.values()])
        with PeakMemory() as mem:
            row = pipe.iteration(1)
        pipe.close()
        stage_s = {s: row.get(f"timing/{s}_s", 0.0) for s in ("generate", "score", "annotate", "train", "weight_sync", "eval")}
        points.append({**p, "iteration_s": row["timing/iteration_s"], "stage_s": stage_s, "peak_gib": mem.peak_gib,
                       "work": point_work(pcfg, row, len(pipe.eval_rows))})
        log(f"growth {p['sweep']}: W={p['W']} K={p['K']} N={p['N']} M={p['M']}: {row['timing/iteration_s']:.1f}s, "
            f"peak {mem.peak_gib:.2f} GiB")
    return points


def xsum_shape() -> tuple[Shape, list]:
    """The ``examples/xsum_t5small.yaml`` run's shape (first-round arm share W/(W+1)) and its sources."""
    from benchmarks.common import REPO
    from rayrlhf.config import load_config

    x = load_config(REPO / "examples" / "xsum_t5small.yaml")
    w = len(x.sources)
    return Shape(prompts=x.train.prompts_per_iteration, k=x.train.responses_per_prompt, n=x.transfer.best_of_n, sources=w,
                 source_share=w / (w + 1), epochs=x.optim.epochs, eval_samples=x.eval.num_prompts * x.eval.samples_per_prompt,
                 rollout_actors=x.rollout.num_actors, learner_workers=x.train.num_workers), x.sources


def projection_rows(points: list[dict], score_by_kind: dict[str, float], weight_sync: float) -> dict:
    """The xsum shape projected with the costs fitted here: per stage, with placement (R rollout actors, L learner
    workers, sources in parallel) and without it (one of each, sources one after another)."""
    from benchmarks.projection import fit_line

    shape, sources = xsum_shape()
    # a kind benchmark 3 did not measure: the growth points' own scoring cost per response (sources in parallel)
    fallback = max(0.0, fit_line([p["work"]["scored_per_source"] for p in points], [p["stage_s"]["score"] for p in points])[1])
    costs = fit_costs(points, {s.name: score_by_kind.get(s.kind, fallback) for s in sources}, weight_sync)
    placed = project(shape, costs, parallel_sources=True)
    alone = project(Shape(**{**shape.__dict__, "rollout_actors": 1, "learner_workers": 1}), costs, parallel_sources=False)
    name, share = dominant(placed)
    return {"shape": shape.__dict__, "work": work(shape), "costs": costs.__dict__, "with_placement_s": placed,
            "without_placement_s": alone, "dominant_stage": name, "dominant_share": share,
            "score_kinds_measured": sorted(score_by_kind)}


def run(cfg, workers, init_dir: str, out: Path) -> Section:
    section = Section("growth", "6. Growth with W, K, N and M")
    log(f"benchmark 6: {len(grid(cfg))} growth points, one iteration each")
    points = run_points(cfg, workers, init_dir, out)
    section.tables["growth points"] = [{k: v for k, v in p.items() if k not in ("stage_s", "work")} | p["stage_s"] for p in points]
    section.values = {"points": points}
    for key in ("W", "K", "N", "M"):
        pts = sweep(points, key)
        lo, hi = pts[0], pts[-1]
        section.ratios[f"iteration time {key}={hi[key]} / {key}={lo[key]}"] = hi["iteration_s"] / lo["iteration_s"]
        section.ratios[f"peak memory {key}={hi[key]} / {key}={lo[key]}"] = hi["peak_gib"] / lo["peak_gib"]
    return section


def projection_section(points: list[dict], score_by_kind: dict[str, float], weight_sync: float) -> Section:
    section = Section("projection", "6b. PROJECTION: the xsum_t5small shape")
    proj = projection_rows(points, score_by_kind, weight_sync)
    section.values = proj
    section.tables["xsum_t5small shape, seconds per iteration (PROJECTION)"] = [
        {"stage": s, "with placement": proj["with_placement_s"][s], "one actor each, sources in turn": proj["without_placement_s"][s]}
        for s in proj["with_placement_s"]]
    section.tables["xsum_t5small shape, work per iteration"] = [{"unit": k, "count": v} for k, v in proj["work"].items()]
    section.ratios = {"projected xsum iteration, with placement / without": proj["with_placement_s"]["iteration"]
                      / proj["without_placement_s"]["iteration"]}
    section.notes.append(
        f"PROJECTION, not a measurement: the xsum shape's work per stage times per-unit costs fitted on this machine's "
        f"built-in tiny models; dominant stage {proj['dominant_stage']} ({100 * proj['dominant_share']:.0f}% of the "
        "iteration). A GPU changes the per-unit costs, not the work counts.")
    return section
