"""The report's notes on how a comparison ran: the built-in world its runs trained in, the runs ``rayrlhf
compare --resume`` continued, with the iteration each one resumed after, and, in a joined report, the settings a
joined comparison ran with beyond its methods' names."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

IGNORED_SETTINGS = ("run.output_dir",)  # where a comparison writes is not how its runs learn


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings_differing(first: Path, other: Path) -> dict[str, str]:
    """Dotted config keys whose value in the comparison config ``other`` differs from ``first`` (ignoring where
    each writes, and keys only one of them has: a key added to rayrlhf after the other ran took its default there),
    with ``other``'s value as written on a command line; empty when either file is missing."""
    if not (first.is_file() and other.is_file()):
        return {}
    a, b = (_flatten(yaml.safe_load(p.read_text()) or {}) for p in (first, other))
    return {k: json.dumps(b[k]) if not isinstance(b[k], str) else b[k]
            for k in sorted(a.keys() & b.keys()) if k not in IGNORED_SETTINGS and a[k] != b[k]}


def run_settings(root: Path) -> dict[str, dict[str, str]]:
    """method -> the settings its runs were joined with (``compare.json``'s ``settings``), for methods that have any."""
    meta_path = root / "compare.json"
    if not meta_path.is_file():
        return {}
    out: dict[str, dict[str, str]] = {}
    for info in json.loads(meta_path.read_text()).get("runs", {}).values():
        if info.get("settings"):
            out.setdefault(info["method"], {}).update(info["settings"])
    return out


def settings_section(settings: dict[str, dict[str, str]]) -> list[str]:
    """Report lines naming, per method, the settings it ran with beyond its name (:func:`run_settings`; none: no
    lines)."""
    if not settings:
        return []
    lines = ["## Settings beyond the method names", "", "This report joins comparisons run with different shared "
             "settings; these methods ran with the settings below, the others with the first comparison's. The "
             "ablation table pairs only methods one piece apart counting these settings.", ""]
    lines += [f"- `{m}`: " + ", ".join(f"`{k}={v}`" for k, v in s.items()) for m, s in sorted(settings.items())]
    return [*lines, ""]


def resumed_section(root: Path) -> list[str]:
    """Report lines naming the resumed runs of the comparison in ``root`` (none: no lines)."""
    meta_path = root / "compare.json"
    if not meta_path.is_file():
        return []
    meta = json.loads(meta_path.read_text())
    resumed = sorted((info["method"], info["seed"], info["resumed_after"]) for info in meta.get("runs", {}).values()
                     if "resumed_after" in info)
    if not meta.get("resumed"):
        return []
    lines = ["## Resumed", "", f"This comparison was resumed {len(meta['resumed'])} time(s) (`rayrlhf compare --resume`). "
             "Runs that had finished were kept; these had begun and continued from their last checkpoint, their paid "
             "labels answered from their own ledgers:", ""]
    lines += [f"- `{m}` seed {seed}: after iteration {after}" for m, seed, after in resumed] or ["- none (every run "
                                                                                                 "resumed had not begun)"]
    return [*lines, ""]


def world_section(run_dirs: list[Path]) -> list[str]:
    """Report lines naming the built-in world(s) the runs trained in, by name and checksum (from each run's
    ``task.json``; none: no lines)."""
    seen: dict[tuple[str, str], int] = {}
    for run in run_dirs:
        if (run / "task.json").is_file():
            world = json.loads((run / "task.json").read_text())
            key = (world["name"], world["checksum"])
            seen[key] = seen.get(key, 0) + 1
    if not seen:
        return []
    lines = ["## World", "", "The built-in world the runs trained in (`task.json` in each run; the checksum covers the "
             "splits' rows and the models' weights and tokenizers, so equal checksums mean the same world):", ""]
    lines += [f"- `{name}` checksum `{checksum[:16]}`: {n} run(s)" for (name, checksum), n in sorted(seen.items())]
    if len({name for name, _ in seen}) < len(seen):
        lines += ["", "**Runs of one world saw different builds of it**: their numbers are not comparable."]
    return [*lines, ""]
