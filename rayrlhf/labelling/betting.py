"""The betting p-value of "the expected loss is at least ``alpha``" from independent losses in [0, 1]: the WSR bound
(Waudby-Smith and Ramdas 2023, "Estimating means of bounded random variables by betting", JRSS-B; the bound Bates,
Angelopoulos, Lei, Malik and Jordan 2021 find tightest for risk control).

A gambler starts with wealth 1 and bets against the null on each loss in turn, multiplying the wealth by
``1 + lam_i (alpha - x_i)``. Under the null (every loss has mean at least ``alpha``) the wealth is a nonnegative
supermartingale, so by Ville's inequality its running maximum reaches ``1 / delta`` with probability at most
``delta``: ``1 / max wealth`` (capped at 1) is a valid p-value. Each bet uses only the losses before it (WSR's
predictable plug-in, ``sqrt(2 log(1 / delta) / (n var))`` with the running variance estimate) and is capped at
``BET_CAP`` < 1, so a factor is never negative for any ``alpha`` in [0, 1] and the bets do not depend on ``alpha``:
the wealth rises with ``alpha`` and the p-value falls, so a confidence bound is found by bisection. Where a few of
a few dozen losses are above 0 (a label model that mostly agrees with people) the variance is small and the bets
large: it rejects more often than Hoeffding-Bentkus there. With every loss 0 its bound is a little lower (0.913
against 0.928 at 40 losses, 95%).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BET_CAP = 0.9  # the largest bet: a loss of 1 keeps at least a tenth of the wealth whatever alpha is


def bets(losses: Sequence[float], delta: float, cap: float = BET_CAP) -> np.ndarray:
    """WSR's predictable bets for ``losses`` in order: bet ``i`` from the mean and variance of the losses before it
    (started at 1/2 and 1/4), ``min(cap, sqrt(2 log(1 / delta) / (n var)))``."""
    x = np.asarray(losses, dtype=float)
    n = len(x)
    count = np.arange(1, n + 1)
    mean = (0.5 + np.cumsum(x)) / (count + 1)  # mean after i losses, prior 1/2
    spread = (0.25 + np.cumsum((x - mean) ** 2)) / (count + 1)
    variance_before = np.concatenate(([0.25], spread[:-1]))
    return np.minimum(cap, np.sqrt(2.0 * math.log(1.0 / delta) / (n * variance_before)))


def betting_p(losses: Sequence[float], alpha: float, delta: float = 0.05) -> float:
    """The p-value of "the expected loss is at least ``alpha``" from ``losses`` in [0, 1], taken in the given order
    (module docstring); ``delta`` only sizes the bets. 1 with no losses."""
    if len(losses) == 0:
        return 1.0
    x = np.asarray(losses, dtype=float)
    if x.min() < 0.0 or x.max() > 1.0:
        raise ValueError("losses must lie in [0, 1]")
    wealth = np.cumprod(1.0 + bets(x, delta) * (alpha - x))
    return float(min(1.0, 1.0 / max(1.0, wealth.max())))
