"""Who labels which prompt of a round (docs/method.md, "Model labels"): people where the label model is unsure,
the model elsewhere (``oracle.route``).

- ``uncertain``: of the round's ``quota`` human labels, a ``spot_check`` share goes to prompts drawn at random
  among those the model is confident about (so its accuracy on what it labels is measured, not assumed); the rest
  go to the least confident prompts. Every other prompt gets a model label.
- ``random``: the ``quota`` human labels go to a uniform sample (the rule of an open framework that labels a fixed
  random share with its own ensemble; the baseline ``uncertain`` must beat); the rest get model labels. The human
  prompts are then themselves a random sample of the ones the model labels: all of them are spot checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Route = Literal["all", "uncertain", "random"]


@dataclass(frozen=True)
class Routing:
    """Indices (into the round's askable prompts) labelled by people and by the model; ``spot`` is the subset of
    ``human`` that measures the model (its label is computed and compared, the person's answer is trained on)."""

    human: tuple[int, ...]
    model: tuple[int, ...]
    spot: tuple[int, ...]


def route_round(confidences: Sequence[float], quota: int, route: Route, spot_check: float,
                rng: np.random.Generator) -> Routing:
    """Split the round's prompts (their label-model ``confidences``) into ``quota`` for people and the rest for the
    model. Ties in confidence are broken at random; deterministic for a given ``rng``."""
    n = len(confidences)
    quota = max(0, min(quota, n))
    if route == "all":
        return Routing(tuple(range(n)), (), ())
    if route == "random":
        human = sorted(int(i) for i in rng.choice(n, size=quota, replace=False))
        return Routing(tuple(human), tuple(i for i in range(n) if i not in set(human)), tuple(human))
    if route != "uncertain":
        raise ValueError(f"unknown oracle.route {route!r}; choose all, uncertain or random")
    order = [int(i) for i in np.lexsort((rng.random(n), np.asarray(confidences, dtype=float)))]  # least sure first
    spots = min(quota, round(spot_check * quota))
    unsure, confident = order[: quota - spots], order[quota - spots :]  # len(confident) = n - quota + spots >= spots
    spot = sorted(int(i) for i in rng.choice(confident, size=spots, replace=False)) if spots else []
    human = sorted(unsure + spot)
    return Routing(tuple(human), tuple(i for i in range(n) if i not in set(human)), tuple(spot))


def human_quota(labels_per_iteration: int | None, human_share: float, prompts_per_iteration: int) -> int:
    """Human labels per iteration with routing on: ``oracle.labels_per_iteration`` when set, else ``human_share`` of
    the prompts (at least one)."""
    if labels_per_iteration is not None:
        return labels_per_iteration
    return max(1, round(human_share * prompts_per_iteration))
