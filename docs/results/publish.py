"""Copy a comparison's report into docs/results/ with the command and the commit that produced it, so every number
the README and docs/experiments.md quote comes from a file written here.

    python docs/results/publish.py RUN_OR_COMPARE_DIR NAME --command "rayrlhf compare ..."

writes docs/results/NAME_report.md (the report, headed by the command, the commit and the date), its plots as
docs/results/NAME_*.png, and docs/results/NAME_report.json; then prints each labels-to-match line of the report."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    return out.stdout.strip() or "unknown"


def publish(root: Path, name: str, command: str, code: str | None = None) -> Path:
    report = (root / "report.md").read_text()
    for plot in sorted(root.glob("*.png")):
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", plot.name)  # a plain file name: Markdown links and web servers agree
        shutil.copy(plot, HERE / f"{name}_{safe}")
        report = report.replace(f"]({plot.name})", f"]({name}_{safe})")
    header = [f"<!-- written by docs/results/publish.py from {root.name} -->", "",
              f"Command: `{command}`", "", f"Code: commit {code or commit()}; written {time.strftime('%Y-%m-%d')}.", ""]
    out = HERE / f"{name}_report.md"
    lines = report.splitlines()
    out.write_text("\n".join([lines[0], "", *header, *lines[1:]]) + "\n")
    shutil.copy(root / "report.json", HERE / f"{name}_report.json")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("name")
    parser.add_argument("--command", required=True)
    parser.add_argument("--commit", help="the commit the runs ran on, when HEAD has moved since (default: HEAD)")
    args = parser.parse_args()
    out = publish(args.root, args.name, args.command, args.commit)
    print(out)
    for match in json.loads((HERE / f"{args.name}_report.json").read_text()).get("labels_to_match", {}).get("matches", []):
        print(json.dumps({k: match[k] for k in ("baseline", "reference", "multiple", "ci_low", "ci_high", "seeds")}))


if __name__ == "__main__":
    main()
