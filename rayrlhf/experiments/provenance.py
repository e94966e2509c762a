"""The report's note on how a comparison ran: the runs ``rayrlhf compare --resume`` continued, and after which
iteration each one resumed."""

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
