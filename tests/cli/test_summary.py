"""What a first run prints at its end (rayrlhf/cli/summary.py), on rows written by hand."""

from rayrlhf.cli.summary import reading_of_sources, run_summary
from rayrlhf.core.metrics import MetricsRow


def _source(name, agreement, low, high):
    return {"source": name, "kind": "python", "agreement": agreement, "ci_low": low, "ci_high": high, "tie_rate": 0.0, "n": 200}


def test_the_reading_names_the_best_source_the_misleading_ones_and_those_at_chance():
    rows = [_source("rouge", 0.71, 0.65, 0.77), _source("judge", 0.80, 0.74, 0.85), _source("abstractive", 0.31, 0.25, 0.38),
            _source("verbosity", 0.52, 0.45, 0.59), {"source": "down", "kind": "http", "skipped": "no server"}]
    line = reading_of_sources(rows)
    assert line.startswith("Reading: judge agrees with people most (0.800 of the pairs, 95% CI [0.740, 0.850])")
    assert "abstractive orders pairs against them" in line and "verbosity cannot be told from chance" in line
    assert "rouge" not in line
    assert reading_of_sources([{"source": "down", "kind": "http", "skipped": "x"}]).startswith("Reading: no source")
    chance = reading_of_sources([_source("brevity", 0.55, 0.49, 0.61), _source("rouge", 0.47, 0.41, 0.52)])
    assert chance.startswith("Reading: no source agrees with people better than chance here (the best, brevity: 0.550")


def test_the_run_summary_gives_before_and_after_labels_and_the_file_to_open():
    rows = [MetricsRow.from_json({"iteration": 1, "oracle_queries": 128, "label_model/model_labels": 48}),
            MetricsRow.from_json({"iteration": 2, "oracle_queries": 256, "label_model/model_labels": 100,
                                  "eval/oracle_score": 2.2, "eval/oracle_score_init": 0.97, "eval/win_rate_vs_init": 0.77,
                                  "eval/win_rate_vs_init_ci_low": 0.74, "eval/win_rate_vs_init_ci_high": 0.80})]
    lines = run_summary(rows, "runs/quickstart", 300.0, "runs/quickstart/report.md")
    assert lines[0] == "rayrlhf train: 2 iteration(s), 5.0 min -> runs/quickstart"
    assert "held-out oracle score: 0.970 -> 2.200" in lines[1] and "0.770 [0.740, 0.800]" in lines[2]
    assert lines[3] == "  human labels (paid): 256; model labels (never paid): 148"
    assert lines[-1].startswith("Open runs/quickstart/report.md")
    plain = run_summary([MetricsRow.from_json({"iteration": 1, "oracle_queries": 64})], "r", 1.0, None)
    assert plain[-1] == "  human labels (paid): 64"  # no model labels, no report: nothing more said
