"""Lemma 3.1 checked numerically, and the beta -> 0 counterexample.

Lemma 3.1: for policies in the KL-regularised class (``pi = pi*_r`` for some reward with range [0, R], and
convex mixtures of them, whose density ratios to ``pi*`` obey the same ``exp(±2R/beta)`` bounds),
``Cov(pi*|pi) <= 1 + kappa(exp(2R/beta)) (J(pi*) - J(pi)) / beta``.
"""

from __future__ import annotations

import numpy as np

from rayrlhf.theory.bandit import coverage, lemma_bound, random_instance, tilt


def check_lemma(num_instances: int = 10000, seed: int = 0, R: float = 1.0) -> dict:
    """Random instances x policies (each source's ``pi*_{r_w}``, ``pi_ref``, random mixtures); returns the
    largest ``Cov / bound`` and ``(Cov - 1) / (bound - 1)`` and the tightest cases."""
    rng = np.random.default_rng(seed)
    worst: list[dict] = []
    max_ratio = max_excess_ratio = 0.0
    checked = 0
    for i in range(num_instances):
        S, A, W = int(rng.integers(1, 5)), int(rng.integers(2, 7)), int(rng.integers(1, 4))
        beta = float(np.exp(rng.uniform(np.log(0.1), np.log(5.0))))
        inst = random_instance(rng, S, A, W, beta, R, quality=rng.uniform(-1, 1, size=W))
        pi_star = inst.pi_star
        bases = [tilt(inst.pi_ref, r, beta) for r in inst.sources] + [inst.pi_ref,
                                                                      tilt(inst.pi_ref, rng.uniform(0, R, (S, A)), beta)]
        lam = rng.dirichlet(np.ones(len(bases)), size=4)  # random convex mixtures of them
        policies = np.stack(bases + [np.tensordot(w, np.stack(bases), axes=1) for w in lam])
        gap = inst.gap(policies)
        cov = coverage(pi_star, policies, inst.rho)
        bound = lemma_bound(np.maximum(gap, 0.0), beta, R)
        ratio = cov / bound
        excess = np.where(bound - 1 > 1e-12, (cov - 1) / np.maximum(bound - 1, 1e-300), 0.0)
        checked += len(policies)
        j = int(np.argmax(excess))
        max_ratio = max(max_ratio, float(ratio.max()))
        if excess[j] > max_excess_ratio or len(worst) < 5:
            max_excess_ratio = max(max_excess_ratio, float(excess[j]))
            worst.append({"instance": i, "S": S, "A": A, "beta": beta, "gap": float(gap[j]), "coverage": float(cov[j]),
                          "bound": float(bound[j]), "excess_ratio": float(excess[j])})
            worst = sorted(worst, key=lambda w: -w["excess_ratio"])[:5]
    return {"instances": num_instances, "policies": checked, "max_cov_over_bound": max_ratio,
            "max_excess_ratio": max_excess_ratio, "tightest": worst}


def beta_to_zero_counterexample(eps: float = 0.1, betas=(1.0, 0.3, 0.1, 0.03, 0.01), R: float = 1.0) -> list[dict]:
    """One prompt, two responses with ``r* = (R, R - eps)``, uniform ``pi_ref``; ``pi`` is optimal for the
    swapped reward. Its value gap stays below ``eps`` while its coverage of ``pi*`` grows like ``exp(eps/beta)``:
    without the KL term, a near-optimal policy can be a useless data collector. (At beta = 0, ``pi`` is
    deterministic on the worse response: gap = eps, coverage infinite.)"""
    rho, pi_ref = np.ones(1), np.full((1, 2), 0.5)
    r_star = np.array([[R, R - eps]])
    rows = []
    for beta in betas:
        pi_star = tilt(pi_ref, r_star, beta)
        pi = tilt(pi_ref, r_star[:, ::-1], beta)
        from rayrlhf.theory.bandit import value

        gap = float(value(pi_star, r_star, pi_ref, rho, beta) - value(pi, r_star, pi_ref, rho, beta))
        rows.append({"beta": beta, "gap": gap, "coverage": float(coverage(pi_star, pi, rho)),
                     "bound": float(lemma_bound(gap, beta, R))})
    rows.append({"beta": 0.0, "gap": eps, "coverage": float("inf"), "bound": float("inf")})
    return rows
