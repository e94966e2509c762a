"""The typed records between stages: the scoring batch's flatten/regroup, the metrics row's flat form, the interval."""

import pytest

from rayrlhf.algorithms.stats import Interval, mean_interval
from rayrlhf.core.metrics import ArmRow, MetricsRow
from rayrlhf.core.records import ScoringBatch


def test_a_scoring_batch_repeats_each_prompt_per_response_and_regroups_the_scores():
    batch = ScoringBatch.of(["p1", "p2"], [("a", "b", "c"), ("d",)], ["r1", "r2"], [None, None])
    prompts, responses, refs, chats = batch.columns()
    assert prompts == ["p1", "p1", "p1", "p2"] and responses == ["a", "b", "c", "d"]
    assert refs == ["r1", "r1", "r1", "r2"] and chats is None  # a column with a missing value is left out whole
    assert batch.split([1.0, 2.0, 3.0, 4.0]) == [[1.0, 2.0, 3.0], [4.0]]
    with pytest.raises(ValueError, match="3 scores for 4 responses"):
        batch.split([1.0, 2.0, 3.0])  # a scorer that returns the wrong count is refused, not mis-sliced
    with pytest.raises(ValueError, match="2 prompts but 1 response groups"):
        ScoringBatch.of(["p1", "p2"], [("a",)])


def test_a_metrics_row_reads_and_writes_the_flat_form():
    flat = {"iteration": 2, "oracle_queries": 40, "arm/rouge/count": 5, "arm/rouge/win_rate": 0.6, "arm/rouge/ucb": 1.05,
            "arm/self/count": 0, "arm/self/win_rate": None, "arm/self/ucb": None, "annotation/asked": 12,
            "train/loss": 0.69, "eval/win_rate_vs_init": 0.55, "timing/eval_s": 3.0, "legacy_key": 1}
    row = MetricsRow.from_json(flat)
    assert row.iteration == 2 and row.oracle_queries == 40
    assert row.arms == {"rouge": ArmRow(5, 0.6, 1.05), "self": ArmRow(0, None, None)}
    assert (row.annotation, row.train, row.eval, row.timing) == (
        {"asked": 12}, {"loss": 0.69}, {"win_rate_vs_init": 0.55}, {"eval_s": 3.0})
    assert row.other == {"legacy_key": 1} and row.to_json() == flat


def test_intervals_over_seeds():
    ci = mean_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / 3 ** 0.5  # t(0.975, 2) * sd / sqrt(n), sd = 1
    assert (ci.mean, ci.n) == (2.0, 3) and ci.low == pytest.approx(2 - half) and ci.high == pytest.approx(2 + half)
    assert ci.to_json() == {"mean": 2.0, "ci_low": ci.low, "ci_high": ci.high, "n": 3}
    assert Interval.from_json(ci.to_json()) == ci
    one = mean_interval([5.0])
    assert one.mean == 5.0 and one.n == 1 and one.low != one.low  # NaN: no interval from one seed


def test_an_answer_s_typed_fields_round_trip_through_a_ledger_row_and_old_rows_read_the_same():
    from dataclasses import asdict

    from rayrlhf.core.records import Answer

    a = Answer("q", [2, 0, 1], None, {"annotator": "alice"}, partial=True)
    row = {k: v for k, v in asdict(a).items()}
    assert Answer.from_json(row) == a
    old = {"query_id": "q", "ranking": [2, 0, 1], "scores": None, "meta": {"annotator": "alice", "partial": True}}
    assert Answer.from_json(old) == a  # a row written when partial lived in meta
    assert (a.labeller, a.confidence, a.train_weight) == ("oracle", None, 1.0)
