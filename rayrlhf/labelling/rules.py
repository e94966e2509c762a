"""Labelling rules: one interface, one registry (docs/extending.md, "A labelling rule").

A rule splits a round's askable prompts (those with more than one distinct response) given the round's human quota:
which ones people label, which ones the label model labels (only a rule with ``routes_to_model``), and which human
ones are spot checks of the model. The rest get no label. Built in:

- ``all``: people label every prompt (no ``oracle.labels_per_iteration``, or one at least the prompts);
- ``random``: people label a uniform sample of ``quota`` prompts (``oracle.query_selection: random``);
- ``disagreement``: people label the ``quota`` prompts whose K responses the sources rank most differently
  (query-by-committee, Seung et al. 1992, with the sources as the committee; ``oracle.query_selection: disagreement``);
- ``uncertain``: a ``spot_check`` share of the quota goes to prompts drawn at random among those the label model is
  confident about (so its accuracy where it labels is measured, not assumed), the rest to the least confident
  prompts; the model labels every other prompt (``oracle.route: uncertain``);
- ``route_random``: people label a uniform sample, the model the rest; the human prompts are then a random sample
  of those the model labels, so all of them are spot checks (``oracle.route: random``);
- ``guaranteed``: people label a uniform sample of ``quota`` prompts, each of them an audit with probability
  ``audit_share`` (kept out of the label model's fit); the model labels the other prompts at or above the threshold
  certified on the audits (:mod:`rayrlhf.labelling.guarantee`), and nobody the rest (``oracle.route: guaranteed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rayrlhf.algorithms.selection import disagreement
from rayrlhf.config.plugins import LABELLING_RULES, add_to_registry, plugin_names, plugin_object


@dataclass(frozen=True)
class Split:
    """Indices into the round's askable prompts: ``human`` for people, ``model`` for the label model, ``spot`` the
    subset of ``human`` that measures the model, ``audit`` the subset of ``human`` the label model never fits on."""

    human: tuple[int, ...]
    model: tuple[int, ...] = ()
    spot: tuple[int, ...] = ()
    audit: tuple[int, ...] = ()  # the subset of ``human`` kept out of the label model's fit (its calibration)


@dataclass(frozen=True)
class RoundView:
    """What a rule may read about a round's ``count`` askable prompts: every source's scores of each prompt's K
    responses (``scores[i][k][w]``, when the rule ``needs_scores``) and the label model's confidence on each (when a
    rule that ``routes_to_model`` runs past the burn-in), and the confidence threshold certified for the round
    (``guaranteed``; None: nothing is certified)."""

    count: int
    scores: Sequence[Sequence[Sequence[float]]] | None = None
    confidences: Sequence[float] | None = None
    threshold: float | None = None


class LabellingRule:
    """Split a round's askable prompts between people, the label model and nobody.

    ``name`` is the rule's registry key (and its ``rayrlhf compare`` option, ``+NAME``); ``setting`` the config key and
    value that select it; ``needs_scores``: the rule reads every source's scores; ``routes_to_model``: the rule gives
    prompts to the label model (then the run fits one, and until ``oracle.route_after`` human labels exist the round
    is a random sample for people, the burn-in); ``certifies``: the run certifies a confidence threshold for each
    round from the rule's audits (``RoundView.threshold``); ``reason``: why its human prompts go to people."""

    name: ClassVar[str]
    setting: ClassVar[tuple[str, str]]
    needs_scores: ClassVar[bool] = False
    routes_to_model: ClassVar[bool] = False
    certifies: ClassVar[bool] = False
    reason: ClassVar[str] = ""

    def split(self, view: RoundView, quota: int, rng: np.random.Generator) -> Split:
        raise NotImplementedError

    def burn_in(self, count: int, quota: int, rng: np.random.Generator) -> Split:
        """The split while the label model may not label yet: people label a uniform sample of ``quota``."""
        return Split(random_sample(count, quota, rng))


RULES: dict[str, type[LabellingRule]] = {}  # the in-tree rules; rule_classes() adds the plugins


def register_rule(cls: type[LabellingRule]) -> type[LabellingRule]:
    """Add a rule class to :data:`RULES` (a class decorator); built with ``cls(oracle_config)``. Its name must be new."""
    return add_to_registry(RULES, cls.name, cls, "labelling rule")


def rule_classes() -> dict[str, type[LabellingRule]]:
    """Every rule by name: the registered ones, then those packages register in entry-point group
    ``rayrlhf.labelling_rules`` (imported now)."""
    return {**RULES, **{name: plugin_object(LABELLING_RULES, name, LabellingRule, subclass=True)
                        for name in plugin_names(LABELLING_RULES) if name not in RULES}}


def rule_for(oracle, prompts_per_iteration: int) -> LabellingRule:
    """The rule the ``oracle`` config section selects: ``oracle.route`` when it is not ``all``, else ``all`` when people
    label every prompt, else ``oracle.query_selection``."""
    if oracle.route != "all":
        wanted = ("route", oracle.route)
    elif oracle.labels_per_iteration is None or oracle.labels_per_iteration >= prompts_per_iteration:
        wanted = ("route", "all")
    else:
        wanted = ("query_selection", oracle.query_selection)
    found = [c for c in RULES.values() if c.setting == wanted] or [c for c in rule_classes().values() if c.setting == wanted]
    if found:
        return found[0](oracle)
    known = rule_classes()
    raise ValueError(f"no labelling rule is registered for oracle.{wanted[0]}={wanted[1]}; "
                     f"registered: {', '.join(f'{n} (oracle.{c.setting[0]}={c.setting[1]})' for n, c in sorted(known.items()))}")


def random_sample(count: int, quota: int, rng: np.random.Generator) -> tuple[int, ...]:
    """``quota`` of ``count`` indices drawn uniformly without replacement, sorted."""
    return tuple(sorted(rng.choice(count, size=min(quota, count), replace=False).tolist()))


def top_by(values: Sequence[float], quota: int, rng: np.random.Generator) -> tuple[int, ...]:
    """The ``quota`` indices with the largest ``values``, ties broken at random, sorted."""
    order = np.lexsort((rng.random(len(values)), -np.asarray(values, dtype=float)))
    return tuple(sorted(int(i) for i in order[: min(quota, len(values))]))


def _rest(count: int, taken: Sequence[int]) -> tuple[int, ...]:
    taken = set(taken)
    return tuple(i for i in range(count) if i not in taken)


class _Configured(LabellingRule):
    def __init__(self, oracle=None) -> None:
        self.oracle = oracle


@register_rule
class EveryPrompt(_Configured):
    name, setting, reason = "all", ("route", "all"), "people label every prompt"

    def split(self, view: RoundView, quota: int, rng: np.random.Generator) -> Split:
        return Split(tuple(range(view.count)))


@register_rule
class RandomShare(_Configured):
    name, setting, reason = "random", ("query_selection", "random"), "a random sample of the round gets the labels"

    def split(self, view: RoundView, quota: int, rng: np.random.Generator) -> Split:
        return Split(random_sample(view.count, quota, rng))


@register_rule
class SourcesDisagree(_Configured):
    name, setting, needs_scores = "disagreement", ("query_selection", "disagreement"), True
    reason = "the sources rank its responses most differently"

    def split(self, view: RoundView, quota: int, rng: np.random.Generator) -> Split:
        spread = [disagreement(list(zip(*item, strict=True))) for item in view.scores]
        return Split(top_by(spread, quota, rng))


@register_rule
class LeastConfident(_Configured):
    name, setting, needs_scores, routes_to_model = "uncertain", ("route", "uncertain"), True, True
    reason = "the label model is least sure here"

    def __init__(self, oracle=None, spot_check: float | None = None) -> None:
        super().__init__(oracle)
        self.spot_check = spot_check if spot_check is not None else oracle.spot_check

    def split(self, view: RoundView, quota: int, rng: np.random.Generator) -> Split:
        n, quota = view.count, max(0, min(quota, view.count))
        order = [int(i) for i in np.lexsort((rng.random(n), np.asarray(view.confidences, dtype=float)))]  # least sure first
        spots = min(quota, round(self.spot_check * quota))
        unsure, confident = order[: quota - spots], order[quota - spots :]  # len(confident) = n - quota + spots >= spots
        spot = sorted(int(i) for i in rng.choice(confident, size=spots, replace=False)) if spots else []
        human = sorted(unsure + spot)
        return Split(tuple(human), _rest(n, human), tuple(spot))


@register_rule
class RandomRoute(_Configured):
    name, setting, needs_scores, routes_to_model = "route_random", ("route", "random"), True, True
    reason = "a random share of the round; each is also a spot check of the label model"

    def split(self, view: RoundView, quota: int, rng: np.random.Generator) -> Split:
        n = view.count
        human = tuple(sorted(int(i) for i in rng.choice(n, size=max(0, min(quota, n)), replace=False)))
        return Split(human, _rest(n, human), human)


@register_rule
class CertifiedRoute(_Configured):
    name, setting, needs_scores, routes_to_model, certifies = "guaranteed", ("route", "guaranteed"), True, True, True
    reason = "a uniform sample of the round, for the label model to learn from"

    def __init__(self, oracle=None, audit_share: float | None = None) -> None:
        super().__init__(oracle)
        self.audit_share = audit_share if audit_share is not None else oracle.audit_share

    def _people(self, count: int, quota: int, rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """A uniform sample of ``quota`` prompts for people (at most ``count``), and the audits among them: each one
        with probability ``audit_share`` (so the audit share holds on average whatever the round's quota). Drawn
        from ``rng`` alone, so which answers the model is fitted on never depends on the audits."""
        people = random_sample(count, max(0, min(quota, count)), rng)
        audit = tuple(i for i, hit in zip(people, rng.random(len(people)) < self.audit_share, strict=True) if hit)
        return people, audit

    def burn_in(self, count: int, quota: int, rng: np.random.Generator) -> Split:
        """People label a uniform sample of ``quota``; its audits are kept out of the fit (the first audits)."""
        people, audit = self._people(count, quota, rng)
        return Split(people, audit=audit)

    def split(self, view: RoundView, quota: int, rng: np.random.Generator) -> Split:
        people, audit = self._people(view.count, quota, rng)
        certified = view.threshold is not None
        model = tuple(i for i in _rest(view.count, people) if certified and view.confidences[i] >= view.threshold)
        return Split(people, model, audit, audit)
