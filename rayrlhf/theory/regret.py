"""Who collects each label, and what it costs: regret of online learning, TPO, empirical TPO and pure
exploitation on tabular instances.

Every algorithm, at step t: draws ``s ~ rho``, picks a *collection policy* ``pi_t``, samples ``a ~ pi_t(.|s)``
and ``a' ~ pi_ref(.|s)``, and gets a Bradley-Terry label under ``r*`` (empirical TPO instead asks for the best
and worst of K responses, as in docs/method.md). Regret is ``sum_t [J(pi*) - J(pi_t)]`` over the collection
policies, computed exactly.

Estimates. The reward MLE ``r_hat`` is the L2-regularised tabular Bradley-Terry fit (scipy L-BFGS on counts),
refit every ``refit_every`` labels (empirical TPO: the exact best/worst-of-K likelihood, ``plackett_luce``).
Two kinds of confidence width:

- exploration bonus of the online learner: ``w(s,a) = c / sqrt(1 + N(s,a))`` with ``N(s,a)`` the labels that
  involved the response (the count-based optimism of XPO-style learners; ``c`` is ``width_c``);
- transfer selection (``selection="fisher"``, the default): the MLE's own standard errors. ``J_hat(pi) - J(pi)``
  for a fixed ``pi`` is the linear functional ``<g_pi, r_hat - r*>`` with ``g_pi(s,a) = rho(s) pi(a|s)``, so its
  standard deviation is ``sqrt(g^T H^-1 g)`` with ``H`` the BT Fisher information at ``r_hat`` (per prompt:
  ``sum_pairs n_ab p_ab (1-p_ab) (e_a-e_b)(e_a-e_b)^T + reg I``). A source is compared with the self-transfer
  policy through the *difference* ``g_w - g_self``: its per-prompt sums are zero, so BT's unidentified
  per-prompt constant cancels, and ``UCB(J(pi_w)) - LCB(J(pi_self))`` is bounded below by the difference's
  own interval (Alg. 2's optimistic-vs-pessimistic test, without the triangle inequality's slack). The
  multiplier is Gaussian with a union bound over the W sources and the T/block selections at level
  ``delta``: ``z = Phi^-1(1 - delta / (W * blocks))``. ``selection="count"`` uses ``E_pi w`` with the count
  widths above instead (the bound's form, loose by the L1-vs-L2 gap: ``sum_a pi(a) / sqrt(N(a))`` against
  ``sqrt(sum_a pi(a)^2 / N(a))``).

- ``online``: optimistic (XPO-style) policy ``pi*_{r_hat + w}`` collects every label.
- ``tpo`` (Alg. 1 + 2): blocks of ``block`` steps; the first ``alpha`` fraction of each block runs ``online``;
  the rest is collected by the transfer policy chosen at the block's start among the sources' ``pi*_{r_w}``
  with optimistic estimates ``J_hat + E w`` and the self-transfer policy ``pi*_{r_hat}`` with a pessimistic
  estimate ``J_hat - E w``: a source is used while it could still beat what has been learned.
- ``tpo_nosource``: ``tpo`` with no sources (W = 0): online blocks plus the self-transfer policy, i.e. TPO's
  greedy exploitation of what it learned, without any transfer; the gap to ``tpo`` is what transfer buys.
- ``empirical`` (``rayrlhf.theory.empirical``): win-rate UCB over arms (sources + ``self`` at the bar
  ``Rp/K + 0.05``), best/worst-of-K labels fitted by their exact Plackett-Luce likelihood, refits and arm-statistic
  resets once per iteration of ``iteration`` prompts; collection policy = the mixture the K responses came from.
- ``exploit:<w>``: ``pi*_{r_w}`` collects everything and nothing is learned.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.optimize import minimize

from rayrlhf.theory.bandit import Instance, bt_prob, tilt, value
from rayrlhf.theory.empirical import EmpiricalTPO
from rayrlhf.theory.settings import RegretSettings


class BTModel:
    """Tabular Bradley-Terry MLE from pair counts; ``N(s,a)`` for the widths."""

    def __init__(self, S: int, A: int, reg: float) -> None:
        self.S, self.A, self.reg = S, A, reg
        self.wins = np.zeros((S, A, A))  # wins[s, a, b]: a preferred over b
        self.seen = np.zeros((S, A))
        self.r_hat = np.zeros((S, A))

    def add(self, s: int, winner: int, loser: int) -> None:
        self.wins[s, winner, loser] += 1
        self.seen[s, winner] += 1
        self.seen[s, loser] += 1

    def fit(self) -> None:
        W = self.wins

        def nll(x):
            r = x.reshape(self.S, self.A)
            d = r[:, :, None] - r[:, None, :]
            loss = (W * np.logaddexp(0, -d)).sum() + 0.5 * self.reg * (r**2).sum()
            g = -W * (1 / (1 + np.exp(d)))
            grad = g.sum(2) - g.sum(1) + self.reg * r
            return loss, grad.ravel()

        self.r_hat = minimize(nll, self.r_hat.ravel(), jac=True, method="L-BFGS-B").x.reshape(self.S, self.A)

    def width(self, c: float) -> np.ndarray:
        return c / np.sqrt(1.0 + self.seen)

    def covariance(self) -> np.ndarray:
        """``H_s^-1`` per prompt (S, A, A): the inverse Fisher information of the regularised BT likelihood."""
        n = self.wins + self.wins.transpose(0, 2, 1)
        d = self.r_hat[:, :, None] - self.r_hat[:, None, :]
        c = n * np.exp(-np.logaddexp(0, d) - np.logaddexp(0, -d))  # n_ab p_ab (1 - p_ab)
        H = -c + np.eye(self.A) * (c.sum(-1)[:, :, None] + self.reg)
        return np.linalg.inv(H)

    def value_sd(self, g: np.ndarray, cov: np.ndarray) -> float:
        """Standard deviation of ``<g, r_hat>`` for a weight table ``g`` (S, A)."""
        return float(np.sqrt(np.einsum("sa,sab,sb->", g, cov, g)))


def _sample(rng, p) -> int:
    return int(rng.choice(len(p), p=p / p.sum()))


def run(inst: Instance, algo: str, cfg: RegretSettings, seed: int) -> np.ndarray:
    """Per-step regret ``J(pi*) - J(pi_t)`` of ``algo`` on ``inst``."""
    return run_with_arms(inst, algo, cfg, seed)[0]


def run_with_arms(inst: Instance, algo: str, cfg: RegretSettings, seed: int) -> tuple[np.ndarray, dict[str, int]]:
    """Per-step regret and, for ``empirical``, how many prompts each arm collected (empty otherwise)."""
    rng = np.random.default_rng(seed)
    if algo == "empirical" or algo.startswith("empirical_delay"):
        delay = cfg.delay if algo == "empirical" else algo.removeprefix("empirical_delay")
        emp = EmpiricalTPO(inst, dataclasses.replace(cfg, delay=int(delay) if delay in ("0", "1") else delay), rng)
        regret = np.array([emp.step(t, _sample(rng, inst.rho)) for t in range(cfg.T)])
        return regret, {arm: emp.allocation[arm] for arm in emp.arms}
    S, A = inst.pi_ref.shape
    model = BTModel(S, A, cfg.reg)
    j_star = float(inst.J(inst.pi_star))
    source_pis = [] if algo == "tpo_nosource" else [tilt(inst.pi_ref, r, inst.beta) for r in inst.sources]
    is_tpo = algo in ("tpo", "tpo_nosource")
    regret = np.zeros(cfg.T)
    transfer = None
    for t in range(cfg.T):
        if t % cfg.refit_every == 0 and t:
            model.fit()
        w = model.width(cfg.width_c)
        s = _sample(rng, inst.rho)
        if algo.startswith("exploit:"):
            pi_t = source_pis[int(algo.split(":")[1])]
        elif algo == "online" or (is_tpo and t % cfg.block < cfg.alpha * cfg.block):
            pi_t = tilt(inst.pi_ref, model.r_hat + w, inst.beta)
        elif is_tpo:
            if t % cfg.block == math.ceil(cfg.alpha * cfg.block) or transfer is None:
                learned = tilt(inst.pi_ref, model.r_hat, inst.beta)
                transfer = _select_transfer(inst, model, w, source_pis, learned, cfg)
            pi_t = transfer
        else:
            raise ValueError(f"unknown algorithm {algo!r}; choose online, tpo, tpo_nosource, empirical or exploit:<w>")
        regret[t] = j_star - float(inst.J(pi_t))
        a, b = _sample(rng, pi_t[s]), _sample(rng, inst.pi_ref[s])
        model.add(s, *((a, b) if rng.random() < bt_prob(inst.r_star, s, a, b) else (b, a)))
    return regret, {}


def _select_transfer(inst: Instance, model: BTModel, w: np.ndarray, source_pis, learned, cfg: RegretSettings) -> np.ndarray:
    """Transfer policy selection (Alg. 2): a source's optimistic value against the self-transfer policy's
    pessimistic one; the self-transfer policy unless some source could still be better."""
    def j_hat(pi):
        return float(value(pi, model.r_hat, inst.pi_ref, inst.rho, inst.beta))

    if cfg.selection == "count":
        def spread(pi):
            return float((inst.rho * (pi * w).sum(-1)).sum())

        candidates = [(j_hat(pi) + spread(pi), pi) for pi in source_pis]
        candidates.append((j_hat(learned) - spread(learned), learned))
        return max(candidates, key=lambda c: c[0])[1]
    if cfg.selection != "fisher":
        raise ValueError(f"selection must be 'fisher' or 'count', got {cfg.selection!r}")
    cov = model.covariance()
    z = selection_z(len(source_pis), cfg)
    base = j_hat(learned)
    g_self = inst.rho[:, None] * learned
    best, best_ucb = learned, 0.0
    for pi in source_pis:
        ucb = j_hat(pi) - base + z * model.value_sd(inst.rho[:, None] * pi - g_self, cov)
        if ucb > best_ucb:
            best, best_ucb = pi, ucb
    return best


def selection_z(num_sources: int, cfg: RegretSettings) -> float:
    """Gaussian multiplier with a union bound over sources and block-start selections at level ``delta``."""
    from scipy.stats import norm

    blocks = max(1, math.ceil(cfg.T / cfg.block))
    return float(norm.ppf(1 - cfg.delta / (max(1, num_sources) * blocks)))


SCENARIOS = {
    "one_good_source": [0.95, 0.2, -1.0],  # a near-perfect source, a weak one, a misleading one
    "bad_sources": [0.0, -1.0, 0.1],       # nothing worth transferring
}


def regret_curves(scenario: str, seeds: int = 5, T: int = 2000, S: int = 5, A: int = 8, beta: float = 0.5,
                  algos: tuple[str, ...] | None = None, width_c: float = 1.0,
                  selection: str = "fisher", delays: tuple = (0,)) -> dict:
    """Cumulative regret per algorithm (mean over seeds, each seed a new instance) and summary numbers:
    regret at T/10 and T, and the slope of log regret vs log t over the second half. ``delays``: empirical TPO with
    each feedback delay (``empirical_delay1``, ``empirical_delayiteration``) on the same instances and seeds."""
    from rayrlhf.theory.bandit import random_instance

    quality = SCENARIOS[scenario]
    algos = algos or ("online", "tpo", "tpo_nosource", "empirical", *[f"empirical_delay{d}" for d in delays if d != 0],
                      *[f"exploit:{i}" for i in range(len(quality))])
    cfg = RegretSettings(T=T, width_c=width_c, selection=selection)
    curves = {a: [] for a in algos}
    arm_counts: dict[str, list[dict[str, int]]] = {a: [] for a in algos}
    for seed in range(seeds):
        inst = random_instance(np.random.default_rng(1000 + seed), S, A, len(quality), beta, quality=quality)
        for a in algos:
            regret, arms = run_with_arms(inst, a, cfg, seed)
            curves[a].append(np.cumsum(regret))
            arm_counts[a].append(arms)
    out = {"scenario": scenario, "quality": quality, "T": T, "seeds": seeds, "beta": beta, "width_c": width_c,
           "selection": selection, "selection_z": selection_z(len(quality), cfg),
           "algorithms": {}}
    t = np.arange(1, T + 1)
    half = slice(T // 2, T)
    for a, cs in curves.items():
        c = np.mean(cs, axis=0)
        slope = float(np.polyfit(np.log(t[half]), np.log(np.maximum(c[half], 1e-12)), 1)[0])
        out["algorithms"][a] = {"early": float(c[T // 10 - 1]), "final": float(c[-1]),
                                "final_sd": float(np.std([x[-1] for x in cs])), "late_slope": slope,
                                "curve": c[:: max(1, T // 100)].tolist()}
        if any(arm_counts[a]):  # empirical TPO: mean prompts per arm over seeds
            out["algorithms"][a]["arm_counts"] = {arm: float(np.mean([d[arm] for d in arm_counts[a]]))
                                                  for arm in arm_counts[a][0]}
    return out
