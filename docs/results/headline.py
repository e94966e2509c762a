"""The README's "What it saves" table, written from the reports published in docs/results/ (publish.py), so that
every number there comes from a file with its command and commit beside it.

    python docs/results/headline.py            # rewrite the table in README.md
    python docs/results/headline.py --check    # exit 1 if README.md's table is not what the reports say

It also writes the fresh-clone ``make quickstart`` time (``quickstart_time.json``) and copies the HH-RLHF pilot table (``hh_rlhf_pilot.txt``, the output of the command in ``PILOT_COMMAND`` at the
commit in ``hh_rlhf_pilot.commit``) into README.md's pilot block.

Each row is one configuration's labels-to-match set in one build of a world (``ROWS``): the reference method's
held-out oracle score after the last iteration (mean and 95% t interval over the seeds) with its human labels, the
baseline's score at each multiple of the labels, the multiple of the labels the baseline needs to match (with the
95% paired t interval, inverted over the label axis), people's share of the labelled prompts, and the report, its
command and its commit.
"""

from __future__ import annotations

import argparse
import functools
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
# One row per published labels-to-match set: (report name, world, configuration, the reference method's options that
# pick its match; None: the report's first match).
ROWS = [
    ("qs55", "summaries", "quickstart (`examples/quickstart.yaml`)", "[oracle.certify_test=sequence]"),
    ("seq1024", "summaries", "few people (`examples/few_people.yaml`)", "[oracle.certify_test=sequence]"),
    ("fqa75", "summaries", "few people in the quickstart's time (`examples/few_people_quick.yaml`; seeds 10-14, baseline "
     "with the NLL anchor)", "[oracle.audit_share=0.75]"),
    ("fqx75", "summaries", "the same on seeds 15-19 in an AVX2 machine's build", "[oracle.audit_share=0.75]"),
    ("fq57", "summaries", "the same with `oracle.audit_share=0.5` (seeds 5-9)", "[optim.nll_weight=1]"),
    ("fq10", "summaries", "the same with `oracle.audit_share=0.5` on seeds 10-14 (anchored baseline)",
     "[oracle.certify_bound=hoeffding_bentkus]"),
    ("qsbt56", "summaries, noisy people", "quickstart, `oracle.labels=bradley_terry oracle.model_accuracy=0.7`",
     "[oracle.model_accuracy=0.7]"),
    ("seqbt1024", "summaries, noisy people", "few people, `oracle.labels=bradley_terry oracle.model_accuracy=0.7`",
     "[oracle.certify_test=sequence]"),
    ("fqbt75", "summaries, noisy people", "few people in the quickstart's time, `oracle.labels=bradley_terry "
     "oracle.model_accuracy=0.7` (seeds 15-19, an AVX2 machine's build)", "[oracle.model_accuracy=0.7]"),
    ("ins40", "instructions", "`examples/instructions.yaml` (`ucb+uncertain+ranking`)", None),
]


def _multiple(value: float | None, multiples: list[float]) -> str:
    """A multiple of the labels as the report writes it: beyond the largest the baseline was given, at or below the
    smallest, or the value."""
    if value is not None and math.isinf(value):
        return f"> {multiples[-1]:.2f}x"
    if value is None or value <= multiples[0]:
        return f"<= {multiples[0]:.2f}x"
    return f"{value:.2f}x"


def _interval(low: float | None, high: float | None, multiples: list[float]) -> str:
    return f"{_multiple(low, multiples)} to {_multiple(high, multiples)}"


@functools.cache
def _read(path: Path) -> str:
    return path.read_text()


def report_text(name: str) -> str:
    """The published report ``docs/results/NAME_report.md`` (read once per path)."""
    return _read(HERE / f"{name}_report.md")


def provenance(name: str) -> tuple[str, str]:
    """The command and the commit in a published report's header."""
    text = report_text(name)
    command = re.search(r"^Command: `(.*)`$", text, re.M)
    commit = re.search(r"^Code: commit (\S+);", text, re.M)
    return (command[1] if command else "?"), (commit[1] if commit else "?")


def labels_row(name: str, method: str) -> tuple[float, float, str] | None:
    """The reference run's human labels, model labels (0: none) and the model labels' agreement with the oracle, from
    the report's labels-to-match table (None if the method has no row there)."""
    text = report_text(name)
    found = re.search(rf"^\| {re.escape(method)} \| 1x \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", text, re.M)
    if not found:
        return None
    model = found[2].strip()
    return float(found[1]), 0.0 if model == "-" else float(model), found[3].strip()


def model_labels(name: str, method: str) -> str:
    """The reference run's model labels and their agreement with the oracle, from the report's labels-to-match table."""
    found = labels_row(name, method)
    return f"{found[1]:.0f} ({found[2]} right)" if found and found[1] else "-"


def people_share(name: str, report: dict, method: str) -> str:
    """People's share of the labelled prompts: pooled over the guarantee's table (route guaranteed, with how many
    of the iterations the model labelled in met the target, and how many it did not label in), else the run's human
    labels over human and model labels."""
    rows = report.get("guarantee", {}).get(method, {}).get("rows", [])
    if rows:
        human, model = sum(r["human_labels"] for r in rows), sum(r["model_labels"] for r in rows)
        judged = [r["met"] for r in rows if r["met"] is not None]
        idle = f"; no model labels in {len(rows) - len(judged)} of {len(rows)} iterations" if len(judged) < len(rows) else ""
        return f"{human / (human + model):.3f} (target met {sum(judged)} of {len(judged)}{idle})"
    found = labels_row(name, method)
    return f"{found[0] / (found[0] + found[1]):.3f}" if found else "?"


def world_build(name: str) -> str:
    """The checksum (first 8 hex digits) of the built-in world the report's runs trained in, from its "World" section."""
    found = re.findall(r"checksum `([0-9a-f]{8})", report_text(name))
    return f"`{found[0]}`" if len(set(found)) == 1 else "?"


def best_source(report: dict) -> str:
    """The source that agrees with the oracle most on initial-policy pairs, and how often."""
    best = max(report["source_quality"], key=lambda q: q["agreement"])
    return f"{best['source']} {best['agreement']:.3f}"


def row(name: str, world: str, configuration: str, options: str | None) -> dict:
    """One configuration's headline numbers from ``docs/results/NAME_report.json``: its first labels-to-match set,
    or the first whose reference method carries ``options``."""
    report = json.loads((HERE / f"{name}_report.json").read_text())
    matches = report["labels_to_match"]["matches"]
    match = next(m for m in matches if options is None or m["reference"].endswith(options))
    last = report["iterations"][-1]
    method = _method_named(report, match["reference"])
    reference = next(r for r in report["oracle_score"][method] if r["iteration"] == last)
    multiples = sorted(match["multiples"])
    baseline = ", ".join(f"{score:.3f} ({nominal:g}x)" for score, nominal in zip(match["curve"], match["nominal"], strict=True))
    command, commit = provenance(name)
    return {"world": f"{world} {world_build(name)}", "configuration": configuration, "seeds": match["seeds"],
            "best_source": best_source(report), "model_labels": model_labels(name, method),
            "people": people_share(name, report, method),
            "reference": f"{reference['mean']:.3f} [{reference['ci_low']:.3f}, {reference['ci_high']:.3f}] with "
                         f"{match['reference_labels']:.0f} human labels",
            "baseline": baseline, "match": _multiple(match["multiple"], multiples),
            "interval": _interval(match["ci_low"], match["ci_high"], multiples),
            "report": f"[{name}](docs/results/{name}_report.md), commit {commit}", "command": command}


def _method_named(report: dict, reference: str) -> str:
    """The report's name of the reference method (labels-to-match may list its mode, rule and pairs in another
    order; the bracketed options stay in order after the last)."""
    def key(method: str) -> list[str]:
        head, _, options = method.partition("[")
        return sorted(head.split("+")) + [options]
    return next(m for m in report["oracle_score"] if key(m) == key(reference))


def render(rows: list[dict]) -> str:
    lines = [BEGIN, "", "| world (build) | configuration | held-out oracle score | strongest baseline (plain online DPO on "
             "every stated pair) | labels to match | 95% paired t interval | seeds | people's share of labelled prompts | "
             "model labels per run (share right) | best source's agreement with people | report |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['world']} | {r['configuration']} | {r['reference']} | {r['baseline']} | {r['match']} | "
              f"{r['interval']} | {r['seeds']} | {r['people']} | {r['model_labels']} | {r['best_source']} | "
              f"{r['report']} |" for r in rows]
    lines += ["", "Commands:", ""] + [f"- {r['world']}, {r['configuration']}: `{r['command']}`" for r in rows]
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


def published() -> list[dict]:
    """The rows of ``ROWS`` whose report is published."""
    return [row(*spec) for spec in ROWS if (HERE / f"{spec[0]}_report.json").is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's table is stale")
    args = parser.parse_args(argv)
    text = README.read_text()
    rows = published()
    new = replace_block(text, BEGIN, END, render(rows))
    new = replace_block(new, PILOT_BEGIN, PILOT_END, render_pilot())
    new = replace_block(new, TIMING_BEGIN, TIMING_END, render_timing())
    if args.check:
        if new != text:
            print("README.md's headline table, pilot table or quickstart time is stale: run `python docs/results/headline.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    print(f"wrote the headline table, pilot table and quickstart time of {README} from {', '.join(r['report'].split(']')[0][1:] for r in rows)}, "
          "hh_rlhf_pilot.txt and quickstart_time.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
