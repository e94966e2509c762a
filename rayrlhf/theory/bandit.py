"""Tabular KL-regularised contextual bandits: the exact quantities behind the paper's theory.

S prompts with distribution ``rho``, A responses, reference policy ``pi_ref`` (S, A), true reward ``r_star``
(S, A) in [0, R], W source rewards (W, S, A). Everything here is exact (no sampling) except the labels.

- ``tilt``: ``pi*_r(a|s) ∝ pi_ref(a|s) exp(r(s,a)/beta)`` (docs/method.md, "Setting").
- ``value``: ``J_beta(pi; r) = E_s [ E_{a~pi} r(s,a) - beta KL(pi(.|s) || pi_ref(.|s)) ]``.
- ``coverage``: ``Cov(pi*|pi) = E_{s, a~pi*} [pi*(a|s) / pi(a|s)]``.
- ``lemma_bound``: ``1 + kappa(exp(2R/beta)) (J(pi*) - J(pi)) / beta`` with ``kappa(x) = (x-1)^2 / (x-1-log x)``
  (Lemma 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def tilt(pi_ref: np.ndarray, r: np.ndarray, beta: float) -> np.ndarray:
    """``pi*_r``: the KL-regularised optimal policy for reward ``r`` (rows sum to 1)."""
    logits = np.log(pi_ref) + r / beta
    logits -= logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=-1, keepdims=True)


def value(pi: np.ndarray, r: np.ndarray, pi_ref: np.ndarray, rho: np.ndarray, beta: float) -> np.ndarray:
    """``J_beta(pi; r)``; leading batch dimensions of ``pi``/``r`` broadcast."""
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_terms = np.where(pi > 0, pi * (np.log(pi) - np.log(pi_ref)), 0.0)
    per_state = (pi * r).sum(-1) - beta * kl_terms.sum(-1)
    return (per_state * rho).sum(-1)


def coverage(pi_star: np.ndarray, pi: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """``Cov(pi*|pi) = sum_s rho(s) sum_a pi*(a|s)^2 / pi(a|s)`` (inf where pi misses pi*'s support)."""
    with np.errstate(divide="ignore"):
        ratio = np.where(pi_star > 0, pi_star**2 / pi, 0.0)
    return (ratio.sum(-1) * rho).sum(-1)


def kappa(x: np.ndarray | float) -> np.ndarray | float:
    """``(x-1)^2 / (x-1-log x)`` for x > 1 (the limit 2 as x -> 1)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (x - 1) ** 2 / (x - 1 - np.log(x))
    return np.where(np.abs(x - 1) < 1e-8, 2.0, out)


def log_kappa_exp(z: np.ndarray | float) -> np.ndarray | float:
    """``log kappa(exp(z))``, stable for large ``z = 2R/beta`` (kappa(e^z) ~ e^z / (1 - (1+z) e^-z))."""
    z = np.asarray(z, dtype=float)
    small = z < 30
    exact = np.log(kappa(np.exp(np.minimum(z, 30))))
    large = z + np.log1p(-np.exp(-z)) * 2 - np.log1p(-(1 + z) * np.exp(-z))
    return np.where(small, exact, large)


def lemma_bound(gap: np.ndarray, beta: float | np.ndarray, R: float) -> np.ndarray:
    """Lemma 3.1's bound on ``Cov(pi*|pi)`` for a policy whose value gap to ``pi*`` is ``gap``."""
    return 1.0 + np.exp(log_kappa_exp(2.0 * R / np.asarray(beta))) * np.asarray(gap) / beta


@dataclass
class Instance:
    rho: np.ndarray  # (S,)
    pi_ref: np.ndarray  # (S, A)
    r_star: np.ndarray  # (S, A) in [0, R]
    sources: np.ndarray  # (W, S, A) in [0, R]
    beta: float
    R: float = 1.0

    @property
    def pi_star(self) -> np.ndarray:
        return tilt(self.pi_ref, self.r_star, self.beta)

    def J(self, pi: np.ndarray) -> np.ndarray:
        """True value ``J_beta(pi; r*)``."""
        return value(pi, self.r_star, self.pi_ref, self.rho, self.beta)

    def gap(self, pi: np.ndarray) -> np.ndarray:
        return self.J(self.pi_star) - self.J(pi)


def random_instance(rng: np.random.Generator, S: int, A: int, W: int, beta: float, R: float = 1.0,
                    quality: np.ndarray | list[float] | None = None) -> Instance:
    """A random instance; source w is ``q_w * r* + (1 - q_w) * (independent noise reward)``, so ``q_w = 1``
    is a perfect source and ``q_w = 0`` an unrelated one (a negative ``q_w`` misleads)."""
    rho = rng.dirichlet(np.ones(S))
    pi_ref = rng.dirichlet(np.ones(A), size=S)
    r_star = rng.uniform(0, R, size=(S, A))
    q = np.asarray(quality if quality is not None else rng.uniform(0, 1, size=W), dtype=float)
    noise = rng.uniform(0, R, size=(len(q), S, A))
    sources = np.clip(q[:, None, None] * r_star + (1 - q[:, None, None]) * noise, 0, R)
    if (q < 0).any():  # a misleading source: the reversed reward
        sources[q < 0] = R - r_star
    return Instance(rho, pi_ref, r_star, sources, beta, R)


def bt_prob(r: np.ndarray, s: int, a1: int, a2: int) -> float:
    """Bradley-Terry ``P(a1 > a2 | s) = sigmoid(r(s,a1) - r(s,a2))``."""
    return float(1.0 / (1.0 + np.exp(-(r[s, a1] - r[s, a2]))))
