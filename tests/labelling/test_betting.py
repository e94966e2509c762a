"""The betting p-value of route guaranteed's ``oracle.certify_bound: betting``: its wealth against a hand-run loop of
the WSR bets, its error rate under the null on simulated losses, and its power against Hoeffding-Bentkus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rayrlhf.labelling.betting import BET_CAP, betting_p
from rayrlhf.labelling.guarantee import GRID, Audited, accuracy_bound, certify, hoeffding_bentkus_p, loss_p


def _loop_p(losses, alpha, delta):
    """WSR's predictable plug-in written as the paper states it, one loss at a time (an independent computation)."""
    n, wealth, peak, total, squares = len(losses), 1.0, 1.0, 0.0, 0.25
    for i, x in enumerate(losses):
        bet = min(BET_CAP, math.sqrt(2 * math.log(1 / delta) / (n * squares / (i + 1))))
        wealth *= 1 + bet * (alpha - x)
        peak = max(peak, wealth)
        total += x
        squares += (x - (0.5 + total) / (i + 2)) ** 2
    return min(1.0, 1.0 / peak)


@pytest.mark.parametrize("seed", range(5))
def test_p_value_equals_the_wealth_of_the_bets_made_one_loss_at_a_time(seed):
    rng = np.random.default_rng(seed)
    losses = np.where(rng.random(40) < 0.2, rng.choice([0.2, 0.5, 1.0], 40), 0.0)
    for alpha in (0.1, 0.2, 0.3):
        assert betting_p(losses, alpha, 0.05) == pytest.approx(_loop_p(losses.tolist(), alpha, 0.05), rel=1e-9)


@pytest.mark.parametrize("draw", ["bernoulli", "fractional"])
def test_under_the_null_it_rejects_at_most_delta_of_the_time(draw):
    rng = np.random.default_rng(3)
    alpha, trials, n = 0.2, 4000, 40
    if draw == "bernoulli":
        losses = (rng.random((trials, n)) < alpha).astype(float)
    else:  # shares of five pairs with mean alpha: the losses a best/worst label of four responses gives
        losses = rng.binomial(5, alpha, size=(trials, n)) / 5
    rejected = np.mean([betting_p(row, alpha, 0.05) <= 0.05 for row in losses])
    assert rejected <= 0.05


def test_it_rejects_more_often_than_hoeffding_bentkus_where_most_audits_agree():
    rng = np.random.default_rng(4)
    n, wins = 33, []
    for _ in range(300):
        losses = np.where(rng.random(n) < 0.12, rng.choice([0.2, 0.25, 0.5], n), 0.0)
        wins.append((betting_p(losses, 0.2, 0.05) <= 0.05, hoeffding_bentkus_p(losses.mean(), n, 0.2) <= 0.05))
    betting, hb = np.mean(wins, axis=0)
    assert betting > hb + 0.1


def test_p_value_falls_as_alpha_rises_and_rejects_nothing_without_losses_or_above_them():
    losses = [0.0, 0.5, 0.0, 0.0, 1.0, 0.0, 0.25, 0.0] * 4
    ps = [betting_p(losses, a, 0.05) for a in np.linspace(0.0, 0.95, 40)]
    assert all(b <= a + 1e-12 for a, b in zip(ps, ps[1:], strict=False))
    assert betting_p([], 0.2) == 1.0
    assert betting_p([1.0] * 30, 0.2) == 1.0


def test_losses_outside_zero_one_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        betting_p([0.0, 1.5], 0.2)


def test_accuracy_bound_by_betting_covers_the_true_mean_and_is_not_vacuous():
    rng = np.random.default_rng(5)
    true_mean, bounds = 0.9, []
    for _ in range(1000):
        agree = rng.binomial(5, true_mean, size=40) / 5
        bounds.append(accuracy_bound(agree.tolist(), 0.05, "betting"))
    assert np.mean(np.asarray(bounds) > true_mean) <= 0.05
    assert np.mean(bounds) > 0.8


def test_accuracy_bound_is_where_the_p_value_crosses_delta():
    agree = [1.0] * 25 + [0.8, 0.6, 1.0, 0.0, 1.0] * 3
    bound = accuracy_bound(agree, 0.05, "betting")
    losses_above, losses_below = 1 - bound + 1e-6, 1 - bound - 1e-6
    assert loss_p(agree, losses_above, "betting") <= 0.05 < loss_p(agree, losses_below, "betting")


def test_an_unknown_bound_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="hoeffding_bentkus, betting"):
        loss_p([1.0], 0.2, "chernoff")


def test_certify_by_betting_passes_where_hoeffding_bentkus_cannot_on_the_same_audits():
    audits = [Audited(0.95, 1.0)] * 26 + [Audited(0.95, 0.5)] * 2 + [Audited(0.95, 0.8)] * 2  # mean agreement 0.953
    hb = certify(audits, 0.8, 0.05, grid=(0.9,), bound="hoeffding_bentkus")
    bet = certify(audits, 0.8, 0.05, grid=(0.9,), bound="betting")
    assert hb.threshold is None
    assert bet.threshold == 0.9 and bet.bound >= 0.8


def test_a_bonferroni_certificate_reports_the_bound_of_the_bets_it_was_tested_with():
    audits = [Audited(0.95, 1.0)] * 60 + [Audited(0.95, 0.5)] * 4
    cert = certify(audits, 0.8, 0.05, grid=GRID, test="bonferroni", bound="betting")
    kept = [a.agreement for a in audits]
    assert cert.threshold is not None
    assert cert.bound == accuracy_bound(kept, 0.05 / len(GRID), "betting", sizing=0.05)


def _audits(rng, n):
    conf = rng.uniform(0.5, 1.0, size=n)
    return [Audited(float(c), float(a), ((float(c), bool(a)),)) for c, a in zip(conf, rng.random(n) < conf, strict=True)]


@pytest.mark.parametrize("test", ["bonferroni", "sequence"])
def test_certified_thresholds_by_betting_hold_their_target_at_least_1_minus_delta_of_the_time(test):
    # confidence ~ U(0.5, 1) and P(agree | c) = c: the true accuracy at or above t is E[c | c >= t] = (1 + t) / 2
    rng = np.random.default_rng(6)
    target, delta, wrong, certified = 0.85, 0.05, 0, 0
    for _ in range(400):
        cert = certify(_audits(rng, 600), target, delta, unit="pair", test=test, fitted=_audits(rng, 100),
                       bound="betting")
        if cert.threshold is not None:
            certified += 1
            wrong += (1 + cert.threshold) / 2 < target
            assert cert.bound >= target
    assert wrong / 400 <= delta
    assert certified >= 200
