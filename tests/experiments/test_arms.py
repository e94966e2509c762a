"""The report's arm allocation (rayrlhf/experiments/arms.py): the share of prompts each arm was given, read from the
saved rounds, beside the share of the credits from metrics.jsonl, on run directories written here."""

import json

import pytest

from rayrlhf.core.metrics import ArmRow, MetricsRow
from rayrlhf.experiments.arms import arm_allocation, section


def _run(path, rounds, counts, rates):
    """A run directory with one iteration: ``rounds`` lists each round's arms (one per prompt), ``counts`` the
    credited prompts per arm."""
    path.mkdir(parents=True)
    (path / "rounds").mkdir()
    (path / "rounds" / "iter_1.jsonl").write_text(
        "".join(json.dumps([{"arm": arm, "prompt": f"p{i}"} for i, arm in enumerate(arms)]) + "\n" for arms in rounds))
    row = MetricsRow(1, sum(counts.values()), {a: ArmRow(n, rates[a], 1.0) for a, n in counts.items()})
    (path / "metrics.jsonl").write_text(json.dumps(row.to_json()) + "\n")
    return path


def test_an_arm_chosen_while_nobody_answers_takes_the_prompts_but_not_the_credits(tmp_path):
    # seed 1: 1 uniform round (a, b, c, d), then 3 rounds of 4 prompts to b; people credited 3 a, 1 b (the first round)
    one = _run(tmp_path / "s1", [["a", "b", "a", "a"], ["b"] * 4, ["b"] * 4, ["b"] * 4], {"a": 3, "b": 1},
               {"a": 0.5, "b": 0.9})
    # seed 2: every prompt credited, half to each arm
    two = _run(tmp_path / "s2", [["a", "a", "b", "b"]], {"a": 2, "b": 2}, {"a": 0.7, "b": None})
    alloc = arm_allocation({1: one, 2: two})[1]
    assert alloc["b"]["share"] == pytest.approx((13 / 16 + 2 / 4) / 2)
    assert alloc["a"]["share"] == pytest.approx((3 / 16 + 2 / 4) / 2)
    assert alloc["b"]["credited"] == pytest.approx((1 / 4 + 2 / 4) / 2)
    assert alloc["a"]["win_rate"] == pytest.approx(0.6) and alloc["b"]["win_rate"] == pytest.approx(0.9)
    out: dict = {}
    lines = section(tmp_path, {"ucb": {1: one, 2: two}}, out)
    assert "| 1 | 0.34 / 0.62 (0.60) | 0.66 / 0.38 (0.90) |" in lines
    assert (tmp_path / "arms_ucb.png").is_file() and out["arm_allocation"]["ucb"][1] == alloc


def test_a_run_without_saved_rounds_shows_the_credited_share(tmp_path):
    run = _run(tmp_path / "s", [["a"]], {"a": 1, "b": 3}, {"a": 0.5, "b": 0.5})
    (run / "rounds" / "iter_1.jsonl").unlink()
    alloc = arm_allocation({1: run})[1]
    assert alloc["a"]["share"] == alloc["a"]["credited"] == pytest.approx(0.25)
