"""Empirical TPO (docs/method.md steps 1-5) on a tabular instance.

Labels come in iterations of ``cfg.iteration`` prompts. At each iteration's start the best/worst model is
refit (``BestWorstModel``, the exact Plackett-Luce likelihood of the labels), the collection policy
``pi_i = pi*_{r_hat}`` changes, and the arm statistics are reset (old win rates describe the old policy).
Within an iteration, prompts come in rounds of ``cfg.refresh_every``: the first round assigns arms uniformly
at random, every later round the UCB-argmax arm of the statistics so far (``assign_round``, as the pipeline).
With a feedback delay (``cfg.delay``) the statistics a round is assigned from lag behind: ``1`` leaves out the
previous round (it is still being labelled while this one is generated), ``"iteration"`` assigns every round of an
iteration from the statistics of the iterations before, which are then carried instead of reset (a batched bandit
with delayed feedback; docs/method.md, "Delayed feedback").

A source arm ``w`` shows K responses: the first Rp (``num_replace``) are Best-of-N draws from ``pi_i`` under
``r_w`` (each slot an independent Best-of-N), the rest draws from ``pi_i``; the ``self`` arm shows K draws
from ``pi_i``. The annotator scores each *distinct* response once (true reward + Gumbel noise: identical
responses are one text and get one judgement) and names the best and the worst. The arm's credit is the share
of slots holding the best response that are transfer slots, so a source that copies ``pi_i`` earns Rp/K on
average; ``self`` is credited the bar ``Rp/K + margin``. Collection regret of a prompt is that of the
mixture the K responses came from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from rayrlhf.algorithms.transfer import SELF_ARM, ArmStats, assign_round, transfer_credit
from rayrlhf.theory.bandit import Instance, tilt
from rayrlhf.theory.plackett_luce import BestWorstModel
from rayrlhf.theory.settings import RegretSettings


def best_of_n_policy(pi: np.ndarray, r: np.ndarray, n: int) -> np.ndarray:
    """Exact distribution of the best of ``n`` samples from ``pi`` ranked by ``r``. Responses of equal reward
    share their level's probability in proportion to ``pi`` (ties broken by draw order), so a constant ``r``
    gives back ``pi``."""
    out = np.zeros_like(pi)
    for s in range(pi.shape[0]):
        levels, level_of = np.unique(r[s], return_inverse=True)  # ascending
        mass = np.bincount(level_of, weights=pi[s], minlength=len(levels))
        cdf = np.cumsum(mass)
        below = np.concatenate([[0.0], cdf[:-1]])
        level_prob = cdf**n - below**n
        share = np.divide(pi[s], mass[level_of], out=np.zeros_like(pi[s]), where=mass[level_of] > 0)
        out[s] = level_prob[level_of] * share
    return out


def annotate_best_worst(rng: np.random.Generator, rewards: np.ndarray, responses: Sequence[int]) -> tuple[int, int]:
    """Plackett-Luce annotator at temperature 1 over the distinct shown responses: (best, worst) actions
    (equal when every slot holds the same response)."""
    distinct = np.unique(responses)
    noisy = rewards[distinct] + rng.gumbel(size=len(distinct))
    return int(distinct[np.argmax(noisy)]), int(distinct[np.argmin(noisy)])


class EmpiricalTPO:
    """State of one empirical-TPO run: the model, the current iteration's policies and arm statistics."""

    def __init__(self, inst: Instance, cfg: RegretSettings, rng: np.random.Generator) -> None:
        self.inst, self.cfg, self.rng = inst, cfg, rng
        S, A = inst.pi_ref.shape
        self.model = BestWorstModel(S, A, cfg.reg)
        self.arms = (*[f"w{i}" for i in range(len(inst.sources))], SELF_ARM)
        self.allocation: Counter[str] = Counter()
        self.j_star = float(inst.J(inst.pi_star))
        self._round: list[str] = []
        self._pending: list[list[tuple[str, float]]] = []  # labelled rounds whose credit the statistics lack yet
        self._current: list[tuple[str, float]] = []
        self.stats = ArmStats(self.arms)
        self._new_iteration()

    def _new_iteration(self) -> None:
        """Refit, recompute the iteration's policies, reset the arm statistics (the policy changed)."""
        self.model.fit()
        self.learned = tilt(self.inst.pi_ref, self.model.r_hat, self.inst.beta)
        self.best_of_n = [best_of_n_policy(self.learned, r_w, self.cfg.N) for r_w in self.inst.sources]
        frac = self.cfg.num_replace / self.cfg.K
        collect = [frac * bon + (1 - frac) * self.learned for bon in self.best_of_n] + [self.learned]
        self.arm_regret = {arm: self.j_star - float(self.inst.J(pi)) for arm, pi in zip(self.arms, collect)}
        if self.cfg.delay == "iteration":  # the ending iteration's labels arrive now; statistics carried
            self._close_round()
            self._apply(0)
        else:  # the old statistics describe the old policy: reset, and pending credit is dropped with them
            self.stats, self._pending, self._current = ArmStats(self.arms), [], []

    def _close_round(self) -> None:
        if self._current:
            self._pending.append(self._current)
        self._current = []

    def _apply(self, keep: int) -> None:
        """Credit the statistics with every pending round but the ``keep`` most recent."""
        while len(self._pending) > keep:
            for arm, credit in self._pending.pop(0):
                self.stats.record(arm, credit, self.cfg.self_win_rate)

    def settle(self) -> ArmStats:
        """Credit every label given so far (at the end of a run: the statistics without the delay's lag)."""
        self._close_round()
        self._apply(0)
        return self.stats

    def _assign(self, t_in: int) -> list[str]:
        """The next round's arms, from the statistics the delay allows."""
        cfg = self.cfg
        size = min(cfg.refresh_every, cfg.iteration - t_in)
        if cfg.delay == "iteration":
            first = not any(self.stats.counts.values())
        else:
            self._close_round()
            self._apply(cfg.delay)
            first = t_in == 0
        return assign_round(size, self.stats, first_round=first, c=1.0, rng=self.rng)

    def step(self, t: int, s: int) -> float:
        """Prompt ``t`` (global index) on state ``s``: choose the arm, show K responses, annotate, credit the
        arm, store the label; returns the collection regret."""
        cfg = self.cfg
        t_in = t % cfg.iteration
        if t_in == 0 and t:
            self._new_iteration()
        if t_in % cfg.refresh_every == 0:
            self._round = self._assign(t_in)
        arm = self._round[t_in % cfg.refresh_every]
        responses, mask = self.show(arm, s)
        best, worst = annotate_best_worst(self.rng, self.inst.r_star[s], responses)
        # the pipeline's own rule (ties by identical response split the credit), on response ids
        credit = transfer_credit(list(responses).index(best), mask, list(responses)) if arm != SELF_ARM else 0.0
        self._current.append((arm, credit))  # credited when the delay allows (_assign)
        self.allocation[arm] += 1
        if best != worst:
            self.model.add(s, responses, best, worst)
        return self.arm_regret[arm]

    def show(self, arm: str, s: int) -> tuple[list[int], list[bool]]:
        """The K responses shown for arm ``arm`` on state ``s`` and the mask of transfer slots."""
        cfg, rng = self.cfg, self.rng
        learned = self.learned[s]
        if arm == SELF_ARM:
            return [_draw(rng, learned) for _ in range(cfg.K)], [False] * cfg.K
        bon = self.best_of_n[int(arm[1:])][s]
        responses = [_draw(rng, bon) for _ in range(cfg.num_replace)]
        responses += [_draw(rng, learned) for _ in range(cfg.K - cfg.num_replace)]
        return responses, [i < cfg.num_replace for i in range(cfg.K)]


def _draw(rng: np.random.Generator, p: np.ndarray) -> int:
    return int(rng.choice(len(p), p=p / p.sum()))
