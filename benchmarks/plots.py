"""The benchmark plots (matplotlib, no display): each drawn from results.json only, so they can be redrawn."""

from __future__ import annotations

from pathlib import Path

STAGES = ("generate", "score", "annotate", "train", "weight_sync", "eval")


def _values(results: dict, name: str) -> dict:
    sec = results["sections"].get(name) or {}
    return {} if sec.get("error") else sec.get("values", {})


def growth_plot(results: dict, path: Path) -> bool:
    points = _values(results, "growth").get("points")
    if not points:
        return False
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, key in zip(axes, ("W", "K", "N", "M"), strict=True):
        pts = sorted((p for p in points if p["sweep"] in (key, "base")), key=lambda p: p[key])
        xs = [p[key] for p in pts]
        ax.plot(xs, [p["iteration_s"] for p in pts], "o-", color="tab:blue", label="iteration (s)")
        for stage in ("generate", "score", "train"):
            ax.plot(xs, [p["stage_s"][stage] for p in pts], ".--", label=stage)
        mem = ax.twinx()
        mem.plot(xs, [p["peak_gib"] for p in pts], "s:", color="tab:red", label="peak memory (GiB)")
        mem.set_ylim(bottom=0)
        ax.set_xlabel(key)
        ax.set_ylim(bottom=0)
        if key == "W":
            ax.set_ylabel("seconds per iteration")
            ax.legend(fontsize=7, loc="upper left")
        if key == "M":
            mem.set_ylabel("peak memory (GiB)", color="tab:red")
    fig.suptitle("One iteration as the work grows (the others at their base values)")
    return _save(fig, path)


def stages_plot(results: dict, path: Path) -> bool:
    """Per-iteration seconds by stage: rayrlhf vs the reference pipeline, and the projection with/without placement."""
    ref = _values(results, "vs_reference")
    proj = _values(results, "projection")
    bars = {}
    if ref:
        bars["rayrlhf"] = {s: _avg(ref["rayrlhf"]["stage_s"].get(s, [])) for s in STAGES}
        r = ref["reference"]["stage_s"]
        bars["reference"] = {"generate": _avg(r.get("generate", [])), "score": 0.0, "annotate": _avg(r.get("annotate", [])),
                             "train": _avg(r.get("train", [])), "weight_sync": 0.0, "eval": _avg(r.get("evaluate", []))}
    if not bars and not proj:
        return False
    import matplotlib.pyplot as plt

    panels = [("measured: one iteration", bars)] if bars else []
    if proj:
        panels.append(("PROJECTION: xsum_t5small shape", {"with placement": proj["with_placement_s"],
                                                          "one of each, sources in turn": proj["without_placement_s"]}))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.8), squeeze=False)
    for ax, (title, data) in zip(axes[0], panels, strict=True):
        bottom = [0.0] * len(data)
        for stage in STAGES:
            heights = [d.get(stage, 0.0) for d in data.values()]
            ax.bar(list(data), heights, bottom=bottom, label=stage)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_title(title)
        ax.set_ylabel("seconds per iteration")
        ax.legend(fontsize=7)
    return _save(fig, path)


def startup_plot(results: dict, path: Path) -> bool:
    v = _values(results, "startup")
    if not v or not v.get("before"):
        return False
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4))
    parts = v["one_at_a_time"]["parts_s"]
    a.barh(list(parts), list(parts.values()), color="tab:gray")
    a.invert_yaxis()
    a.set_xlabel("seconds, each piece alone")
    a.tick_params(axis="y", labelsize=7)
    labels = sorted(set(v["library"]["cpu_s"]) | set(v["before"]["cpu_s"]), key=lambda k: -v["before"]["cpu_s"].get(k, 0.0))[:10]
    ys = range(len(labels))
    b.barh([y - 0.2 for y in ys], [v["library"]["cpu_s"].get(k, 0.0) for k in labels], height=0.4,
           label=f"library, after the cut ({v['library_total_s']:.0f}s to ready)")
    b.barh([y + 0.2 for y in ys], [v["before"]["cpu_s"].get(k, 0.0) for k in labels], height=0.4,
           label=f"before the cut ({v['before_total_s']:.0f}s to ready)")
    b.set_yticks(list(ys), labels, fontsize=7)
    b.invert_yaxis()
    b.set_xlabel("CPU seconds during start-up")
    b.legend(fontsize=7)
    return _save(fig, path)


def _save(fig, path: Path) -> bool:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _avg(xs) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def write_all(results: dict, out: Path) -> list[str]:
    """Every plot the results allow, as PNGs in ``out``; their file names."""
    import matplotlib

    matplotlib.use("Agg")
    drawn = []
    for name, fn in (("growth.png", growth_plot), ("stages.png", stages_plot), ("startup.png", startup_plot)):
        if fn(results, out / name):
            drawn.append(name)
    return drawn
