"""The report's notes on how a comparison ran: the built-in world its runs trained in, and the runs ``rayrlhf
compare --resume`` continued, with the iteration each one resumed after."""

from __future__ import annotations

import json
from pathlib import Path


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
