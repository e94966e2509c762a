"""Paired win rates: ties count half; several samples per prompt average within the prompt."""

import numpy as np
import pytest

from rayrlhf.algorithms.stats import paired_win_rate


def test_one_sample_per_item_by_hand():
    r = paired_win_rate([3, 1, 2, 2], [1, 2, 2, 0])
    assert r.mean == pytest.approx((1 + 0 + 0.5 + 1) / 4) and r.tie_rate == pytest.approx(0.25) and r.n == 4
    assert r.low <= r.mean <= r.high


def test_samples_per_prompt_average_within_the_prompt_and_the_bootstrap_resamples_prompts():
    a = [[1, 1, 0, 0], [2, 2, 2, 2], [0, 0, 0, 0]]
    b = [[0, 0, 1, 1], [1, 1, 1, 3], [0, 1, 0, 0]]
    r = paired_win_rate(a, b)
    assert r.mean == pytest.approx((0.5 + 0.75 + (0.5 * 3 + 0) / 4) / 3) and r.n == 3
    rng = np.random.default_rng(0)  # more samples per prompt, same prompts: a narrower interval
    x, y = rng.normal(0.2, 1, (100, 8)), rng.normal(0, 1, (100, 8))
    one, eight = paired_win_rate(x[:, :1], y[:, :1]), paired_win_rate(x, y)
    assert eight.high - eight.low < 0.6 * (one.high - one.low)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="same shape"):
        paired_win_rate([[1, 2]], [[1, 2, 3]])


def test_empty_responses_stay_out_of_the_mean():
    from rayrlhf.algorithms.stats import score_summary

    scores = [[1.0, -1000.0], [2.0, 3.0]]  # one empty response scored with the oracle's sentinel
    out = score_summary(scores, [["a summary", "  "], ["b", "c"]])
    assert out["mean"] == pytest.approx(2.0) and out["empty_rate"] == 0.25
    with pytest.raises(ValueError, match="4 scores but 3 responses"):
        score_summary(scores, [["a", ""], ["b"]])


def test_each_seed_sees_its_own_prompt_order():
    from rayrlhf.run.loop import prompt_schedule

    first = prompt_schedule(50, seed=0, cursor=0, count=50)
    assert sorted(first) == list(range(50))  # one pass covers every row once
    assert prompt_schedule(50, seed=0, cursor=0, count=50) == first
    assert prompt_schedule(50, seed=1, cursor=0, count=50) != first
    assert prompt_schedule(50, seed=0, cursor=45, count=10) == first[45:] + first[:5]  # wraps around
