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
    row = headline.row("w")
    assert row["reference"] == "2.500 [2.250, 2.750] with 384 human labels"
    assert row["baseline"] == "1.800 (1x), 2.300 (2x), 2.600 (3x)"
    assert (row["match"], row["interval"]) == ("2.40x", "1.50x to > 2.96x")
    assert row["command"] == "rayrlhf compare x.yaml --seeds 5" and "commit abc123" in row["report"]
    assert (row["best_source"], row["model_labels"]) == ("b 0.740", "290 (0.871 right)")


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
