"""The report's guarantee table (rayrlhf/experiments/guarantee.py) on metrics rows written by hand."""

import json

from rayrlhf.experiments.guarantee import guarantee_rows, section


def _run(tmp_path, seed, rows):
    run = tmp_path / f"seed_{seed}"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


def _row(it, model_labels, realised, threshold=0.95, person=None):
    return ({} if person is None else {"label_model/person_accuracy": person}) | {"iteration": it, "oracle_queries": 128 * it, "label_model/target_accuracy": 0.9,
            "label_model/threshold": threshold, "label_model/accuracy_bound": 0.91, "label_model/audits": 64 * it,
            "label_model/human_labels": 128, "label_model/model_labels": model_labels,
            "label_model/human_share": 128 / (128 + model_labels), "label_model/oracle_accuracy": realised,
            "label_model/oracle_accuracy_ci_low": realised - 0.05, "label_model/oracle_accuracy_pairs": 5 * model_labels}


def test_met_is_realised_accuracy_at_least_the_target_and_only_where_the_model_labelled(tmp_path):
    by_seed = {0: _run(tmp_path, 0, [_row(1, 0, float("nan"), float("nan")), _row(2, 40, 0.93), _row(3, 60, 0.88)]),
               1: _run(tmp_path, 1, [_row(1, 10, 0.95), {"iteration": 2, "oracle_queries": 256}])}
    rows = guarantee_rows(by_seed)
    assert [(r["seed"], r["iteration"], r["met"]) for r in rows] == [(0, 1, None), (0, 2, True), (0, 3, False), (1, 1, True)]
    lines, out = section({"ucb+guaranteed": by_seed})
    assert out["ucb+guaranteed"]["iterations_labelled"] == 3 and out["ucb+guaranteed"]["iterations_met"] == 2
    assert any("met the target in 2 of them (67%)" in line for line in lines)


def test_met_is_on_agreement_with_a_person_where_the_run_measured_it(tmp_path):
    """Noisy people: the oracle's r* is right, a person agrees less; the target is on the person."""
    by_seed = {0: _run(tmp_path, 0, [_row(1, 40, 0.95, person=0.85), _row(2, 40, 0.88, person=0.91)])}
    assert [r["met"] for r in guarantee_rows(by_seed)] == [False, True]


def test_methods_without_a_guarantee_give_no_section(tmp_path):
    assert section({"none": {0: _run(tmp_path, 0, [{"iteration": 1, "oracle_queries": 10}])}}) is None


def test_counts_print_as_whole_numbers_and_shares_with_three_decimals(tmp_path):
    by_seed = {0: _run(tmp_path, 0, [_row(1, 0, float("nan"), float("nan"))])}
    lines, _ = section({"ucb+guaranteed": by_seed})
    cells = [c.strip() for c in next(line for line in lines if line.startswith("| 0 | 1 |")).strip("|").split("|")]
    row = dict(zip(["seed", "iteration", "target_accuracy", "threshold", "accuracy_bound", "audits", "human_labels",
                    "model_labels", "human_share", "oracle_accuracy", "oracle_accuracy_ci_low", "oracle_accuracy_pairs",
                    "person_accuracy", "met"], cells))
    assert row["model_labels"] == "0" and row["oracle_accuracy_pairs"] == "0" and row["audits"] == "64"
    assert row["human_share"] == "1.000" and row["target_accuracy"] == "0.900" and row["threshold"] == "-"
    assert row["person_accuracy"] == "-"


def test_an_iteration_before_the_model_is_fitted_is_a_row_of_people_only(tmp_path):
    """Runs written before the run reported it: the iteration has the label model's counts but no certificate
    figures; the table keeps it (people on every labelled prompt) so the pooled share counts its labels."""
    early = {"iteration": 1, "oracle_queries": 32, "label_model/human_labels": 32, "label_model/model_labels": 0}
    by_seed = {0: _run(tmp_path, 0, [early, _row(2, 96, 0.95)])}
    rows = guarantee_rows(by_seed)
    assert [(r["iteration"], r["human_share"], r["target_accuracy"], r["met"]) for r in rows] == [(1, 1.0, 0.9, None), (2, 128 / 224, 0.9, True)]
    assert rows[0]["threshold"] is None and rows[0]["audits"] is None
