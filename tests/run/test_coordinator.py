"""The coordinator without Ray: rounds, per-iteration reset, the budget, ties, the ledger."""

import json
from collections import Counter

import pytest

from rayrlhf.algorithms.transfer import SELF_ARM
from tests.support.coordinator import config, coordinator, item


def test_first_round_uniform_then_ucb_and_reset_each_iteration(tmp_path):
    coord, _ = coordinator(tmp_path)
    coord.start_iteration(1)
    first = coord.assign(300)
    assert set(first) == {"good", "bad", SELF_ARM}
    # "good" puts the longest responses in its transfer slots, "bad" the shortest
    items = [item(f"p{i}", arm, {"good": ["long long", "longer!", "a", "b"], "bad": ["a", "b", "long long", "c"],
                                  SELF_ARM: ["a", "bb", "c", "d"]}[arm]) for i, arm in enumerate(first)]
    coord.record_wins(items, coord.annotate(items))
    rates = coord.metrics()
    assert rates["arm/good/win_rate"] == 1.0 and rates["arm/bad/win_rate"] == 0.0
    assert rates[f"arm/{SELF_ARM}/win_rate"] == pytest.approx(0.55)  # Rp/K + 0.05
    assert coord.assign(5) == ["good"] * 5
    coord.start_iteration(2)  # the policy changed: statistics start over, the first round is uniform again
    assert coord.metrics()["arm/good/count"] == 0
    assert len(set(coord.assign(300))) == 3


def test_ties_earn_the_transfer_share(tmp_path):
    coord, _ = coordinator(tmp_path)
    coord.start_iteration(1)
    tie = item("p", "good", ["xx", "a", "yy", "b"])  # best score 2 in transfer slot 0 and online slot 2
    same = item("q", "bad", ["zz", "zz", "zz", "c"])  # the same text in both kinds of slot
    coord.record_wins([tie, same], coord.annotate([tie, same]))
    m = coord.metrics()
    assert m["arm/good/win_rate"] == 0.5  # 1 of 2 tied-best slots is a transfer slot
    assert m["arm/bad/win_rate"] == pytest.approx(2 / 3)


def test_budget_each_distinct_query_paid_once_and_ledger_reused(tmp_path):
    cfg = config(oracle={"budget": 3})
    coord, oracle = coordinator(tmp_path, cfg)
    coord.start_iteration(1)
    a = item("p1", SELF_ARM, ["a", "bb", "c", "d"])
    items = [a, a, item("p2", SELF_ARM, ["a", "bb", "c", "dd"]), item("p3", SELF_ARM, ["aaa", "b", "c", "d"]),
             item("p4", SELF_ARM, ["aaaa", "b", "c", "d"])]
    answers = coord.annotate(items)
    assert [x is not None for x in answers] == [True, True, True, True, False]  # p4 is over the budget
    assert answers[0].ranking[0] == 1 and answers[1] is answers[0]
    assert all(n == 1 for n in oracle.scored.values())  # the repeated query was paid once
    m = coord.metrics()
    assert m["oracle_queries"] == 3 and m["annotation/asked"] == 3 and m["annotation/over_budget"] == 1
    assert m["annotation/abstained"] == 0
    rows = [json.loads(x) for x in (tmp_path / "annotations.jsonl").read_text().splitlines()]
    ledger = [r for r in rows if "query_id" in r]
    assert len(ledger) == len({r["query_id"] for r in ledger}) == 3
    assert rows[0]["event"] == "asked" and set(rows[0]["query_ids"]) == {r["query_id"] for r in ledger}  # written first
    again, oracle2 = coordinator(tmp_path, cfg)  # a resumed run: the ledger answers, nothing is paid
    again.start_iteration(1)
    assert [x and x.ranking for x in again.annotate(items[:4])] == [x.ranking for x in answers[:4]]
    assert not oracle2.scored and again.metrics()["annotation/reused"] == 4


def test_abstentions_are_counted_apart_from_the_budget(tmp_path):
    coord, _ = coordinator(tmp_path, config(oracle={"budget": 1}))
    coord.start_iteration(1)
    tied = item("p", SELF_ARM, ["a", "b", "c", "d"])  # all scores equal: the oracle abstains
    over = item("q", SELF_ARM, ["a", "bb", "c", "d"])
    assert coord.annotate([tied, over]) == [None, None]
    m = coord.metrics()
    assert (m["annotation/abstained"], m["annotation/over_budget"], m["oracle_queries"]) == (1, 1, 1)


def test_state_round_trip(tmp_path):
    coord, _ = coordinator(tmp_path)
    coord.start_iteration(2)
    x = item("p", "good", ["long", "a", "b", "c"])
    coord.record_wins([x], coord.annotate([x]))
    other, _ = coordinator(tmp_path)
    other.load_state(json.loads(json.dumps(coord.state())))
    assert other.metrics() == coord.metrics()


def test_a_ledger_that_cannot_be_written_stops_before_anything_is_paid(tmp_path):
    """A full disk (``/dev/full`` as the ledger): the "asked" line fails, so the oracle is never asked."""
    import os

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    (tmp_path / "annotations.jsonl").symlink_to("/dev/full")
    coord, oracle = coordinator(tmp_path)
    coord.start_iteration(1)
    with pytest.raises(OSError):
        coord.annotate([item("p", SELF_ARM, ["a", "bb", "c", "d"])])
    assert not oracle.scored


def test_carried_statistics_start_the_next_iteration_with_ucb(tmp_path):
    """transfer.carry=0.5: iteration 2 starts from iteration 1's statistics at half weight (UCB from round one),
    reports its own counts, and the carried evidence adds to what iteration 2 records."""
    coord, _ = coordinator(tmp_path, config(transfer={"carry": 0.5}))
    coord.start_iteration(1)
    arms = coord.assign(60)
    responses = {"good": ["long long", "longer!", "a", "b"], "bad": ["a", "b", "long long", "c"], SELF_ARM: ["a", "bb", "c", "d"]}
    items = [item(f"p{i}", arm, responses[arm]) for i, arm in enumerate(arms)]
    coord.record_wins(items, coord.annotate(items))
    n = Counter(arms)
    coord.start_iteration(2)
    assert coord.assign(7) == ["good"] * 7  # no uniform round: carried win rates already favour "good"
    row = coord.metrics()
    assert row["arm/good/count"] == 0  # this iteration's own prompts
    assert row["arm/good/ucb"] == pytest.approx(n["good"] * 0.5 / (n["good"] * 0.5) + 1 / (n["good"] * 0.5) ** 0.5)
    again = [item(f"q{i}", "bad", responses["bad"]) for i in range(4)]
    coord.record_wins(again, coord.annotate(again))
    assert coord.metrics()["arm/bad/ucb"] == pytest.approx(0.0 + 1 / (n["bad"] * 0.5 + 4) ** 0.5)
    state = coord.state()
    fresh, _ = coordinator(tmp_path / "b", config(transfer={"carry": 0.5}))
    fresh.load_state(state)
    assert fresh.metrics()["arm/bad/ucb"] == coord.metrics()["arm/bad/ucb"]  # a resume keeps the carried evidence
