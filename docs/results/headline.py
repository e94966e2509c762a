"""The README's "What it saves" table, written from the reports published in docs/results/ (publish.py), so that
every number there comes from a file with its command and commit beside it.

    python docs/results/headline.py            # rewrite the table in README.md
    python docs/results/headline.py --check    # exit 1 if README.md's table is not what the reports say

It also writes the fresh-clone ``make quickstart`` time (``quickstart_time.json``) and copies the HH-RLHF pilot table (``hh_rlhf_pilot.txt``, the output of the command in ``PILOT_COMMAND`` at the
commit in ``hh_rlhf_pilot.commit``) into README.md's pilot block.

Each row is one world's labels-to-match set: the reference method's held-out oracle score after the last iteration
(mean and 95% t interval over the seeds) with its human labels, the baseline's score at each multiple of the
labels, the multiple of the labels the baseline needs to match (with the 95% paired t interval, inverted over the
label axis) and the report, its command and its commit.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent.parent / "README.md"
BEGIN, END = "<!-- headline:begin (docs/results/headline.py writes this table) -->", "<!-- headline:end -->"
PILOT_BEGIN, PILOT_END = "<!-- pilot:begin (docs/results/headline.py copies hh_rlhf_pilot.txt here) -->", "<!-- pilot:end -->"
PILOT_COMMAND = ("rayrlhf rewards evaluate examples/hh_rlhf_sources.yaml --pairs ../shared/data/hh_rlhf_harmless_test_300.jsonl"
                 " > docs/results/hh_rlhf_pilot.txt")
TIMING_BEGIN, TIMING_END = "<!-- timing:begin (docs/results/headline.py writes this from quickstart_time.json) -->", "<!-- timing:end -->"
WORLDS = {"ltm39": "summaries (`examples/quickstart.yaml`)", "ins40": "instructions (`examples/instructions.yaml`)",
          "bt39": "summaries with noisy people (`oracle.labels=bradley_terry`)"}


def _multiple(value: float, largest: float) -> str:
    if math.isinf(value):
        return f"> {largest:.2f}x"
    return f"{value:.2f}x"


def _interval(low: float, high: float, largest: float) -> str:
    low_text = f"<= {1:.2f}x" if low is None or low <= 0 else _multiple(low, largest)
    return f"{low_text} to {_multiple(high, largest)}"


def provenance(name: str) -> tuple[str, str]:
    """The command and the commit in a published report's header."""
    text = (HERE / f"{name}_report.md").read_text()
    command = re.search(r"^Command: `(.*)`$", text, re.M)
    commit = re.search(r"^Code: commit (\S+);", text, re.M)
    return (command[1] if command else "?"), (commit[1] if commit else "?")


def model_labels(name: str, method: str) -> str:
    """The reference run's model labels and their agreement with the oracle, from the report's labels-to-match table."""
    text = (HERE / f"{name}_report.md").read_text()
    found = re.search(rf"^\| {re.escape(method)} \| 1x \| [^|]+ \| ([^|]+) \| ([^|]+) \|", text, re.M)
    return f"{found[1].strip()} ({found[2].strip()} right)" if found else "-"


def best_source(report: dict) -> str:
    """The source that agrees with the oracle most on initial-policy pairs, and how often."""
    best = max(report["source_quality"], key=lambda q: q["agreement"])
    return f"{best['source']} {best['agreement']:.3f}"


def row(name: str) -> dict:
    """One world's headline numbers from ``docs/results/NAME_report.json``."""
    report = json.loads((HERE / f"{name}_report.json").read_text())
    match = report["labels_to_match"]["matches"][0]
    last = report["iterations"][-1]
    reference = next(r for r in report["oracle_score"][_method_named(report, match["reference"])] if r["iteration"] == last)
    largest = max(match["multiples"])
    baseline = ", ".join(f"{score:.3f} ({nominal:g}x)" for score, nominal in zip(match["curve"], match["nominal"], strict=True))
    command, commit = provenance(name)
    method = _method_named(report, match["reference"])
    return {"world": WORLDS.get(name, name), "seeds": match["seeds"], "best_source": best_source(report),
            "model_labels": model_labels(name, method),
            "reference": f"{reference['mean']:.3f} [{reference['ci_low']:.3f}, {reference['ci_high']:.3f}] with "
                         f"{match['reference_labels']:.0f} human labels",
            "baseline": baseline, "match": _multiple(match["multiple"], largest),
            "interval": _interval(match["ci_low"], match["ci_high"], largest),
            "report": f"[{name}](docs/results/{name}_report.md), commit {commit}", "command": command}


def _method_named(report: dict, reference: str) -> str:
    """The report's name of the reference method (labels-to-match may list its options in another order)."""
    wanted = sorted(reference.split("+"))
    return next(m for m in report["oracle_score"] if sorted(m.split("+")) == wanted)


def render(names: list[str]) -> str:
    rows = [row(n) for n in names]
    lines = [BEGIN, "", "| world | quickstart's configuration | strongest baseline (plain online DPO on every stated pair) "
             "| labels to match | 95% paired t interval | seeds | best source's agreement with people | model labels "
             "per run (share right) | report |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['world']} | {r['reference']} | {r['baseline']} | {r['match']} | {r['interval']} | {r['seeds']} | "
              f"{r['best_source']} | {r['model_labels']} | {r['report']} |" for r in rows]
    lines += ["", "Commands:", ""] + [f"- {r['world'].split(' (')[0]}: `{r['command']}`" for r in rows]
    return "\n".join([*lines, "", END])


def render_pilot() -> str:
    """The pilot's table as printed by ``rayrlhf rewards evaluate``, with its command and commit."""
    table = (HERE / "hh_rlhf_pilot.txt").read_text().rstrip()
    commit = (HERE / "hh_rlhf_pilot.commit").read_text().strip()
    return "\n".join([PILOT_BEGIN, "", "```text", table, "```", "", f"Command (commit {commit}): `{PILOT_COMMAND}`", "",
                      PILOT_END])


def render_timing() -> str:
    """The measured ``make quickstart`` on a fresh clone (``quickstart_time.json``: commit, seconds, what was cold)."""
    t = json.loads((HERE / "quickstart_time.json").read_text())
    minutes, seconds = divmod(round(t["seconds"]), 60)
    return "\n".join([TIMING_BEGIN, f"On a fresh clone of {t['commit']} ({t['machine']}; {t['cold']}) `make quickstart` took "
                      f"{minutes} min {seconds:02d} s in all: {t['detail']}.", TIMING_END])


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    """``text`` with the block from ``begin`` to ``end`` replaced by ``body`` (which carries both markers)."""
    if begin not in text or end not in text:
        raise SystemExit(f"README.md has no {begin} ... {end} block")
    return text[:text.index(begin)] + body + text[text.index(end) + len(end):]


def published() -> list[str]:
    return [n for n in WORLDS if (HERE / f"{n}_report.json").is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's table is stale")
    args = parser.parse_args(argv)
    text = README.read_text()
    new = replace_block(text, BEGIN, END, render(published()))
    new = replace_block(new, PILOT_BEGIN, PILOT_END, render_pilot())
    new = replace_block(new, TIMING_BEGIN, TIMING_END, render_timing())
    if args.check:
        if new != text:
            print("README.md's headline table, pilot table or quickstart time is stale: run `python docs/results/headline.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    print(f"wrote the headline table, pilot table and quickstart time of {README} from {', '.join(published())}, "
          "hh_rlhf_pilot.txt and quickstart_time.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
