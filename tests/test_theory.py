"""The theory lab: exact quantities on hand-solvable instances, Lemma 3.1, and the regret experiment."""

import math

import numpy as np
import pytest

from rayrlhf.theory.bandit import Instance, coverage, kappa, lemma_bound, tilt, value
from rayrlhf.theory.lemma import beta_to_zero_counterexample, check_lemma
from rayrlhf.theory.regret import BTModel, Settings, best_of_n_policy, run


def test_tilt_value_and_coverage_by_hand():
    # one prompt, two responses, uniform reference, r = (1, 0), beta = 1
    pi_ref, r, rho = np.full((1, 2), 0.5), np.array([[1.0, 0.0]]), np.ones(1)
    pi = tilt(pi_ref, r, 1.0)
    e = math.e
    assert pi[0] == pytest.approx([e / (1 + e), 1 / (1 + e)])
    # J = E r - KL = log E_ref[exp(r)] at the optimum (beta = 1)
    assert value(pi, r, pi_ref, rho, 1.0) == pytest.approx(math.log((e + 1) / 2))
    assert value(pi_ref, r, pi_ref, rho, 1.0) == pytest.approx(0.5)
    # Cov(pi | pi_ref) = sum pi^2 / 0.5
    assert coverage(pi, pi_ref, rho) == pytest.approx(2 * (pi[0] ** 2).sum())
    assert coverage(pi, pi, rho) == pytest.approx(1.0)


def test_two_prompts_three_responses():
    rho = np.array([0.25, 0.75])
    pi_ref = np.array([[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]])
    r = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.5]])
    pi = tilt(pi_ref, r, 0.5)
    z = 0.5 + 0.25 * math.e**2 + 0.25
    assert pi[0] == pytest.approx([0.5 / z, 0.25 * math.e**2 / z, 0.25 / z])
    assert pi[1] == pytest.approx(pi_ref[1])  # a constant reward changes nothing
    # value = 0.25 * beta * log Z_0 + 0.75 * (0.5 + beta * log 1)
    assert value(pi, r, pi_ref, rho, 0.5) == pytest.approx(0.25 * 0.5 * math.log(z) + 0.75 * 0.5)
    inst = Instance(rho, pi_ref, r, np.stack([r]), beta=0.5)
    assert inst.gap(inst.pi_star) == pytest.approx(0.0, abs=1e-12) and inst.gap(pi_ref) > 0


def test_kappa_and_bound():
    assert kappa(1.0) == pytest.approx(2.0)
    assert kappa(math.e) == pytest.approx((math.e - 1) ** 2 / (math.e - 2))
    assert lemma_bound(0.0, 0.5, 1.0) == pytest.approx(1.0)
    big = lemma_bound(1e-3, 0.01, 1.0)  # exp(200) stays finite through the log form
    assert np.isfinite(big) and big > 1e80


def test_lemma_holds_on_random_instances_and_fails_without_kl():
    r = check_lemma(2000, seed=1)
    assert r["max_cov_over_bound"] <= 1 + 1e-9 and 0.3 < r["max_excess_ratio"] <= 1 + 1e-9
    rows = beta_to_zero_counterexample(eps=0.1)
    assert all(row["gap"] <= 0.1 + 1e-12 for row in rows)  # always a small value gap...
    covs = [row["coverage"] for row in rows]
    assert covs == sorted(covs) and covs[-2] > 1e4 and math.isinf(covs[-1])  # ...but coverage blows up


def test_best_of_n_policy_by_hand():
    pi, r = np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]])
    assert best_of_n_policy(pi, r, 2)[0] == pytest.approx([0.75, 0.25])  # the better one unless both draws miss


def test_bt_mle_recovers_reward_differences():
    rng = np.random.default_rng(0)
    true = np.array([[0.0, 1.0, 2.0]])
    m = BTModel(1, 3, reg=0.01)
    for _ in range(4000):
        a, b = rng.choice(3, size=2, replace=False)
        p = 1 / (1 + np.exp(-(true[0, a] - true[0, b])))
        m.add(0, *((a, b) if rng.random() < p else (b, a)))
    m.fit()
    assert m.r_hat[0] - m.r_hat[0, 0] == pytest.approx(true[0], abs=0.15)


@pytest.mark.parametrize("algo", ["online", "tpo", "empirical", "exploit:0"])
def test_every_algorithm_runs_and_exploiting_the_perfect_source_has_no_regret(algo):
    from rayrlhf.theory.bandit import random_instance

    inst = random_instance(np.random.default_rng(0), 3, 4, 2, beta=0.5, quality=[1.0, 0.0])
    reg = run(inst, algo, Settings(T=200, block=50), seed=0)
    assert reg.shape == (200,) and (reg >= -1e-9).all()
    if algo == "exploit:0":
        assert reg.max() == pytest.approx(0.0, abs=1e-9)  # q = 1: the source's pi*_r is pi*


def test_fisher_covariance_is_the_inverse_hessian_of_the_likelihood():
    """``covariance`` inverts the BT log-likelihood's Hessian; compare with finite differences of the gradient."""
    from scipy.optimize import approx_fprime

    m = BTModel(1, 3, reg=0.5)
    for winner, loser, n in [(0, 1, 5), (1, 0, 2), (1, 2, 4), (2, 0, 1)]:
        for _ in range(n):
            m.add(0, winner, loser)
    m.fit()

    def grad(x):
        d = x[:, None] - x[None, :]
        g = -m.wins[0] / (1 + np.exp(d))
        return g.sum(1) - g.sum(0) + m.reg * x

    hess = np.stack([approx_fprime(m.r_hat[0], lambda x, i=i: grad(x)[i], 1e-6) for i in range(3)])
    assert np.linalg.inv(m.covariance()[0]) == pytest.approx(hess, abs=1e-4)
    g = np.array([[0.2, -0.5, 0.3]])
    assert m.value_sd(g, m.covariance()) == pytest.approx(float(np.sqrt(g[0] @ np.linalg.inv(hess) @ g[0])), rel=1e-4)


def test_transfer_selection_drops_a_useless_source_and_keeps_a_perfect_one():
    """Alg. 2 with the MLE's standard errors: with data, self-transfer beats an unrelated source, not a perfect one."""
    import rayrlhf.theory.regret as regret
    from rayrlhf.theory.bandit import random_instance

    for quality, expected in [([0.0], "self"), ([1.0], "source")]:
        inst = random_instance(np.random.default_rng(3), 2, 3, 1, beta=0.5, quality=quality)
        m = BTModel(2, 3, reg=1.0)
        rng = np.random.default_rng(0)
        for _ in range(3000):
            s, (a, b) = int(rng.integers(2)), rng.choice(3, size=2, replace=False)
            m.add(s, *((a, b) if rng.random() < regret.bt_prob(inst.r_star, s, a, b) else (b, a)))
        m.fit()
        learned = regret.tilt(inst.pi_ref, m.r_hat, inst.beta)
        source = regret.tilt(inst.pi_ref, inst.sources[0], inst.beta)
        chosen = regret._select_transfer(inst, m, None, [source], learned, Settings(T=2000))
        assert (chosen is learned) == (expected == "self")


def test_tpo_regret_beats_online_with_a_good_source_and_stays_close_without_one():
    """The paper's prediction (3 instances, T=2000): much lower early regret and a flatter late curve with one
    good source; with only bad sources no more than 10% above the online learner. The count-based selection
    widths break that margin (they keep bad sources for most of the horizon): why Fisher widths are the default."""
    from rayrlhf.theory.regret import regret_curves

    def curves(scenario, selection="fisher"):
        return regret_curves(scenario, seeds=3, T=2000, algos=("online", "tpo"), selection=selection)["algorithms"]

    good = curves("one_good_source")
    assert good["tpo"]["early"] < 0.6 * good["online"]["early"]
    assert good["tpo"]["final"] < 0.5 * good["online"]["final"]
    assert good["tpo"]["late_slope"] < good["online"]["late_slope"]
    bad = curves("bad_sources")
    assert bad["tpo"]["final"] <= 1.1 * bad["online"]["final"]
    count = curves("bad_sources", selection="count")
    assert count["tpo"]["final"] > 1.1 * count["online"]["final"]
