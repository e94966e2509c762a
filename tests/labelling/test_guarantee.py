"""The certified threshold of route guaranteed: its p-value against independent bounds, and its coverage on simulated
audits whose true accuracy is known in closed form."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from rayrlhf.labelling.guarantee import (
    GRID,
    TESTS,
    Audited,
    Certificate,
    accuracy_bound,
    certify,
    hoeffding_bentkus_p,
    rejection_levels,
)


@pytest.mark.parametrize("n,errors,alpha", [(50, 0, 0.1), (100, 4, 0.1), (200, 30, 0.2), (30, 10, 0.1), (400, 20, 0.08)])
def test_p_value_sits_between_the_exact_binomial_test_and_e_times_it(n, errors, alpha):
    exact = binomtest(errors, n, alpha, alternative="less").pvalue  # binary losses: the exact test of "risk >= alpha"
    p = hoeffding_bentkus_p(errors / n, n, alpha)
    assert exact - 1e-12 <= p <= min(1.0, math.e * exact) + 1e-12


@pytest.mark.parametrize("n,loss,alpha", [(100, 0.05, 0.1), (300, 0.12, 0.15), (60, 0.0, 0.1)])
def test_p_value_is_no_larger_than_hoeffdings_bound(n, loss, alpha):
    assert hoeffding_bentkus_p(loss, n, alpha) <= math.exp(-2 * n * (alpha - loss) ** 2) + 1e-12


def test_p_value_of_no_data_or_a_loss_above_alpha_rejects_nothing():
    assert hoeffding_bentkus_p(0.0, 0, 0.1) == 1.0
    assert hoeffding_bentkus_p(0.3, 500, 0.1) == pytest.approx(1.0, abs=1e-6)


def test_under_the_null_it_rejects_at_most_delta_of_the_time():
    rng = np.random.default_rng(0)
    losses = rng.random((4000, 80)) < 0.1  # true risk exactly alpha: the null holds
    rejected = np.mean([hoeffding_bentkus_p(float(row.mean()), 80, 0.1) <= 0.05 for row in losses])
    assert rejected <= 0.05


def test_accuracy_bound_covers_the_true_mean_of_bounded_agreements():
    rng = np.random.default_rng(1)
    true_mean, misses = 0.85, 0
    for _ in range(1000):
        agree = rng.binomial(5, true_mean, size=60) / 5  # a share of five pairs, as a best/worst label of K = 4 states
        bound = accuracy_bound(agree.tolist(), 0.05)
        assert bound <= agree.mean() + 1e-9
        misses += bound > true_mean
    assert misses / 1000 <= 0.05


def _simulated_audits(rng, n, accuracy_of, top=1.0):
    conf = rng.uniform(0.5, top, size=n)
    agree = rng.random(n) < accuracy_of(conf)
    return [Audited(float(c), float(a), ((float(c), bool(a)),)) for c, a in zip(conf, agree, strict=True)]


def test_certified_thresholds_hold_their_target_at_least_1_minus_delta_of_the_time():
    # confidence ~ U(0.5, 1) and P(agree | c) = c: the true accuracy at or above t is E[c | c >= t] = (1 + t) / 2
    rng = np.random.default_rng(2)
    target, delta, wrong, certified = 0.85, 0.05, 0, 0
    for _ in range(400):
        cert = certify(_simulated_audits(rng, 600, lambda c: c), target, delta)
        if cert.threshold is not None:
            certified += 1
            wrong += (1 + cert.threshold) / 2 < target
            assert cert.bound >= target and cert.covered > 0
    assert wrong / 400 <= delta
    assert certified >= 200  # it does certify: at 0.8 and above the true accuracy is 0.9


def test_with_a_sharply_confident_region_it_certifies_that_region():
    # 99% right at confidence 0.8 and above, 60% below: 300 audits certify a threshold of 0.8 or above nearly always
    rng = np.random.default_rng(4)
    found = [certify(_simulated_audits(rng, 300, lambda c: np.where(c >= 0.8, 0.99, 0.6)), 0.9, 0.05).threshold
             for _ in range(200)]
    assert np.mean([t is not None and t >= 0.8 for t in found]) >= 0.9


def test_a_model_that_is_never_accurate_enough_labels_nothing():
    rng = np.random.default_rng(3)
    cert = certify(_simulated_audits(rng, 500, lambda c: np.full_like(c, 0.7)), 0.9, 0.05)
    assert cert.threshold is None and cert.covered == 0 and cert.bound < 0.9
    empty = certify([], 0.9, 0.05)
    assert (empty.threshold, empty.bound, empty.audited, empty.accuracy) == (None, 0.0, 0, None)
    assert Certificate.from_json(json.loads(json.dumps(empty.to_json(), allow_nan=False))) == empty


def test_the_certificate_takes_the_lowest_passing_threshold_of_the_grid():
    audits = [Audited(0.99, 1.0)] * 200 + [Audited(0.6, 0.0)] * 200
    cert = certify(audits, 0.9, 0.05)
    assert cert.threshold == min(t for t in GRID if t > 0.6) and cert.covered == 200 and cert.accuracy == 1.0


def test_each_threshold_is_tested_at_delta_over_the_grid_size():
    # 40 perfect audits: p = 0.9^40 = 0.0148, between delta / 11 and delta: certified with one threshold, not with 11
    audits = [Audited(0.99, 1.0)] * 40
    assert certify(audits, 0.9, 0.05).threshold is None
    assert certify(audits, 0.9, 0.05, grid=(0.99,)).threshold == 0.99
    cert = certify([Audited(0.99, 1.0)] * 80 + [Audited(0.97, 0.8)] * 20, 0.9, 0.05)  # 100 at 0.96: 0.96, not enough
    assert (cert.threshold, cert.covered) == (0.98, 80) and cert.bound == accuracy_bound([1.0] * 80, 0.05 / len(GRID))


def test_a_model_equally_sure_everywhere_is_certified_on_every_prompt():
    """Confidence that says nothing (every audit at 0.55) but labels 95% right: the threshold 0.5 (every prompt)."""
    audits = [Audited(0.55, 1.0)] * 190 + [Audited(0.55, 0.0)] * 10
    assert certify(audits, 0.85, 0.05).threshold == 0.5


def test_certificate_round_trips_through_json():
    cert = Certificate(0.93, 0.912, 120, 80, 0.97, 0.9, 0.05)
    assert Certificate.from_json(cert.to_json()) == cert
    none = Certificate(None, 0.4, 10, 0, 0.8, 0.9, 0.05)
    assert Certificate.from_json(none.to_json()) == none


def test_per_pair_a_label_states_only_its_pairs_at_or_above_the_threshold():
    audit = Audited(0.6, 0.5, ((0.9, True), (0.6, False)))
    assert audit.agreement_at(0.7, "prompt") is None and audit.agreement_at(0.6, "prompt") == 0.5
    assert audit.agreement_at(0.7, "pair") == 1.0 and audit.agreement_at(0.5, "pair") == 0.5
    assert audit.agreement_at(0.95, "pair") is None
    with pytest.raises(ValueError, match="certify unit"):
        certify([audit], 0.8, 0.05, unit="item")


def test_per_pair_it_certifies_the_sure_pairs_a_least_sure_pair_would_hide():
    """Every prompt has one sure, right pair and one coin-flip pair: its least sure pair is 0.55, so no prompt
    threshold above 0.5 covers anything and the whole label is 75% right; cut per pair, the sure pairs pass."""
    rng = np.random.default_rng(5)
    audits = [Audited(0.55, (1.0 + hit) / 2, ((0.99, True), (0.55, bool(hit)))) for hit in rng.random(300) < 0.5]
    assert certify(audits, 0.9, 0.05).threshold is None
    cert = certify(audits, 0.9, 0.05, unit="pair")
    assert cert.threshold is not None and 0.55 < cert.threshold <= 0.99 and cert.accuracy == 1.0
    assert cert.covered == 300 and cert.unit == "pair"
    assert Certificate.from_json(cert.to_json()) == cert


def _pair_audits(rng, n, pairs=5):
    """Each prompt: ``pairs`` pairs with the model's probability p ~ U(0.5, 1), each one a person orders the model's
    way with probability p."""
    probs = rng.uniform(0.5, 1.0, size=(n, pairs))
    agrees = rng.random((n, pairs)) < probs
    return [Audited(float(p.min()), float(a.mean()), tuple(zip(p.tolist(), a.tolist(), strict=True)))
            for p, a in zip(probs, agrees, strict=True)]


def _true_pair_accuracy(threshold, pairs=5, draws=400_000):
    """E[mean of the kept pairs' p | some pair kept], by plain Monte Carlo on the generating process (not certify)."""
    p = np.random.default_rng(99).uniform(0.5, 1.0, size=(draws, pairs))
    kept = p >= threshold
    some = kept.any(axis=1)
    return float(((p * kept).sum(axis=1)[some] / kept.sum(axis=1)[some]).mean())


def test_per_pair_certified_thresholds_hold_their_target_at_least_1_minus_delta_of_the_time():
    rng = np.random.default_rng(6)
    truth = {t: _true_pair_accuracy(t) for t in GRID}
    target, delta, wrong, certified = 0.85, 0.05, 0, 0
    for _ in range(300):
        cert = certify(_pair_audits(rng, 300), target, delta, unit="pair")
        if cert.threshold is not None:
            certified += 1
            wrong += truth[cert.threshold] < target
            assert cert.bound >= target
    assert wrong / 300 <= delta
    assert certified >= 150 and truth[0.7] > target > truth[0.5]  # it certifies, and not on the coin-flip pairs


def test_sequence_tests_each_null_at_delta_in_its_order_until_one_fails_and_bonferroni_at_delta_over_m():
    """Levels worked by hand for delta 0.05 over five nulls (Bonferroni: 0.01 each)."""
    p = [0.001, 0.04, 0.02, 0.5, 0.001]
    assert rejection_levels(p, 0.05, "bonferroni") == [0.01, None, None, None, 0.01]
    assert rejection_levels(p, 0.05, "sequence") == [0.05, 0.05, 0.05, None, None]
    assert rejection_levels(p, 0.05, "sequence", order=[4, 2, 0, 3, 1]) == [0.05, None, 0.05, None, 0.05]
    with pytest.raises(ValueError, match="multiple test"):
        rejection_levels(p, 0.05, "holm")


def _flat_top_audits(rng, n):
    """A model whose pair probabilities never pass 0.9 (as with noisy people): c ~ U(0.5, 0.9), P(agree | c) = c;
    the true accuracy at or above t <= 0.9 is E[c | c >= t] = (t + 0.9) / 2."""
    return _simulated_audits(rng, n, lambda c: c, top=0.9)


def test_sequence_ordered_on_the_fitted_answers_certifies_where_bonferroni_spends_delta_on_empty_thresholds():
    rng = np.random.default_rng(7)
    found = {test: 0 for test in TESTS}
    for _ in range(200):
        audits, fitted = _flat_top_audits(rng, 150), _flat_top_audits(rng, 60)
        for test in TESTS:
            found[test] += certify(audits, 0.7, 0.05, unit="pair", test=test, fitted=fitted).threshold is not None
    assert found["sequence"] >= found["bonferroni"] + 40


@pytest.mark.parametrize("make_audits,true_accuracy", [
    (lambda rng, n: _simulated_audits(rng, n, lambda c: c), lambda t: (1 + t) / 2),
    (_flat_top_audits, lambda t: (max(t, 0.5) + 0.9) / 2),
])
def test_sequence_certified_thresholds_hold_their_target_at_least_1_minus_delta_of_the_time(make_audits, true_accuracy):
    """Coverage against the closed-form accuracy above each threshold, with the order set on separate fitted answers."""
    rng = np.random.default_rng(8)
    target, delta, wrong, certified = 0.7, 0.05, 0, 0
    for _ in range(400):
        cert = certify(make_audits(rng, 150), target, delta, unit="pair", test="sequence", fitted=make_audits(rng, 60))
        if cert.threshold is not None:
            certified += 1
            wrong += true_accuracy(cert.threshold) < target
            assert cert.bound >= target
    assert wrong / 400 <= delta and certified >= 100


def test_sequence_under_the_global_null_certifies_at_most_delta_of_the_time():
    """Every threshold's true accuracy just below the target (0.74 everywhere against 0.75); the order comes from
    fitted answers that look better than they are (in-sample), which must not help."""
    rng = np.random.default_rng(9)
    fitted = [Audited(0.95, 1.0)] * 50
    certified = np.mean([certify(_simulated_audits(rng, 300, lambda c: np.full_like(c, 0.74)), 0.75, 0.05,
                                 test="sequence", fitted=fitted).threshold is not None for _ in range(400)])
    assert certified <= 0.05
