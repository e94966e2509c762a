"""The README's headline numbers come from the reports in docs/results/ (docs/results/headline.py writes them)."""

import importlib.util
import json
import subprocess
import sys

from tests.support.paths import REPO

SCRIPT = REPO / "docs" / "results" / "headline.py"


def _headline():
    spec = importlib.util.spec_from_file_location("headline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_headline_table_is_what_the_published_reports_say():
    out = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr


def test_a_row_is_read_from_a_report_and_its_header(tmp_path, monkeypatch):
    headline = _headline()
    monkeypatch.setattr(headline, "HERE", tmp_path)
    report = {"iterations": [0, 3], "oracle_score": {"ucb+uncertain+ranking": [
        {"iteration": 3, "mean": 2.5, "ci_low": 2.25, "ci_high": 2.75, "n": 5}]},
        "labels_to_match": {"matches": [{"reference": "ucb+ranking+uncertain", "multiples": [1.0, 2.01, 2.96],
                                         "nominal": [1.0, 2.0, 3.0], "seeds": 5, "reference_labels": 384.0,
                                         "curve": [1.8, 2.3, 2.6], "multiple": 2.4, "ci_low": 1.5,
                                         "ci_high": float("inf")}]},
              "source_quality": [{"source": "a", "agreement": 0.61}, {"source": "b", "agreement": 0.74}]}
    (tmp_path / "w_report.json").write_text(json.dumps(report))
    (tmp_path / "w_report.md").write_text("# r\n\nCommand: `rayrlhf compare x.yaml --seeds 5`\n\nCode: commit abc123; written today.\n"
                                          "\n| ucb+uncertain+ranking | 1x | 384 | 290 | 0.871 | 2.5 ± 0.2 | 600 | 1 | 2 |\n")
    row = headline.row("w", "summaries", "quickstart", None)
    assert row["reference"] == "2.500 [2.250, 2.750] with 384 human labels"
    assert row["baseline"] == "1.800 (1x), 2.300 (2x), 2.600 (3x)"
    assert (row["match"], row["interval"]) == ("2.40x", "1.50x to > 2.96x")
    assert row["command"] == "rayrlhf compare x.yaml --seeds 5" and "commit abc123" in row["report"]
    assert (row["best_source"], row["model_labels"]) == ("b 0.740", "290 (0.871 right)")
    assert row["people"] == f"{384 / (384 + 290):.3f}"  # no guarantee table: human labels over human and model labels
    assert row["world"] == "summaries ?"  # the report names no world checksum


def test_the_pilot_block_is_the_pilot_file_with_its_commit(tmp_path, monkeypatch):
    headline = _headline()
    monkeypatch.setattr(headline, "HERE", tmp_path)
    (tmp_path / "hh_rlhf_pilot.txt").write_text("source  agreement\nbrevity 0.550\n")
    (tmp_path / "hh_rlhf_pilot.commit").write_text("abc1234\n")
    block = headline.render_pilot()
    assert "brevity 0.550" in block and "(commit abc1234)" in block
    assert block.startswith(headline.PILOT_BEGIN) and block.endswith(headline.PILOT_END)


def test_the_timing_line_is_the_measured_record(tmp_path, monkeypatch):
    headline = _headline()
    monkeypatch.setattr(headline, "HERE", tmp_path)
    (tmp_path / "quickstart_time.json").write_text(json.dumps(
        {"commit": "abc1234", "seconds": 605.4, "machine": "2 CPU cores", "cold": "task built", "detail": "install"}))
    block = headline.render_timing()
    assert "fresh clone of abc1234" in block and "took 10 min 05 s in all: install." in block


def test_a_guaranteed_row_pools_people_share_over_the_guarantee_table_and_names_its_world(tmp_path, monkeypatch):
    headline = _headline()
    monkeypatch.setattr(headline, "HERE", tmp_path)
    method = "ucb+guaranteed+ranking[optim.nll_weight=1]"
    report = {"iterations": [0, 3], "oracle_score": {method: [{"iteration": 3, "mean": 2.5, "ci_low": 2.4, "ci_high": 2.6}]},
              "labels_to_match": {"matches": [
                  {"reference": "ucb+ranking+guaranteed", "multiples": [1.0], "nominal": [1.0], "seeds": 5,
                   "reference_labels": 384.0, "curve": [2.0], "multiple": 9.0, "ci_low": 1.0, "ci_high": 9.0},
                  {"reference": "ucb+ranking+guaranteed[optim.nll_weight=1]", "multiples": [1.0, 2.0], "nominal": [1.0, 2.0],
                   "seeds": 5, "reference_labels": 384.0, "curve": [2.0, 2.2], "multiple": float("inf"),
                   "ci_low": 1.5, "ci_high": float("inf")}]},
              "guarantee": {method: {"rows": [{"human_labels": 10, "model_labels": 30, "met": True},
                                              {"human_labels": 20, "model_labels": 40, "met": False},
                                              {"human_labels": 10, "model_labels": 0, "met": None}]}},
              "source_quality": [{"source": "a", "agreement": 0.61}]}
    (tmp_path / "g_report.json").write_text(json.dumps(report))
    (tmp_path / "g_report.md").write_text("Command: `c`\n\nCode: commit abc; x\n\n- `summaries` checksum `b6c5475563d463db`: 5 run(s)\n")
    row = headline.row("g", "summaries", "recipe", "[optim.nll_weight=1]")
    # (10 + 20 + 10) / (10 + 20 + 10 + 30 + 40 + 0); the iteration without model labels is not judged
    assert row["people"] == "0.364 (target met 1 of 2; no model labels in 1 of 3 iterations)"
    assert (row["world"], row["match"], row["interval"]) == ("summaries `b6c54755`", "> 2.00x", "1.50x to > 2.00x")
    # a lower end the baseline's smallest multiple does not reach below is written as the report writes it
    assert headline._interval(2.98, float("inf"), [2.98, 3.97]) == "<= 2.98x to > 3.97x"
