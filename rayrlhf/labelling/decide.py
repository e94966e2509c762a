"""The one labelling decision of a round: askable prompts, the rule's split (or the label model's burn-in), and the
label model's labels on what it labels, as a :class:`~rayrlhf.labelling.records.RoundDecision`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rayrlhf.algorithms.label_model import LabelModel, model_label
from rayrlhf.algorithms.selection import all_identical
from rayrlhf.core.records import RoundItem
from rayrlhf.labelling.guarantee import Certificate
from rayrlhf.labelling.quota import burn_in_quota, iteration_labels, label_quota
from rayrlhf.labelling.records import ModelLabelled, RoundDecision
from rayrlhf.labelling.rules import LabellingRule, RoundView, Split

BURN_IN = "burn-in: too few human labels to trust the label model yet (oracle.route_after)"


def askable(items: Sequence[RoundItem]) -> tuple[int, ...]:
    """The items with more than one distinct response: an item whose K responses are one text has nothing to rank,
    so nobody is asked (and nobody paid) for it."""
    return tuple(i for i, it in enumerate(items) if not all_identical(it.responses))


def round_quota(oracle, prompts_per_iteration: int, rule: LabellingRule, seen_after: int, labelled: int,
                burn_in_needs: int | None = None, askable_count: int = 0, certified: bool = True) -> int:
    """People's labels in the next round, so that labelling keeps pace with the iteration's human labels over its
    prompts (``seen_after`` prompts seen once this round is in, ``labelled`` labels so far). Front-loaded rounds ask
    people up to all of the round's ``askable_count`` prompts (never more than the iteration has left), so later
    rounds pace the rest: with ``oracle.burn_in: front`` a burn-in round (``burn_in_needs``: human labels still
    needed before the label model may label) asks what ends the burn-in; with ``oracle.burn_in: certify`` a round
    with no certified threshold (``certified`` False) asks the whole round."""
    total = iteration_labels(oracle.labels_per_iteration, oracle.human_share, prompts_per_iteration, rule.routes_to_model)
    paced = label_quota(total, prompts_per_iteration, seen_after, labelled)
    front = {"front": burn_in_needs, "certify": None if certified else askable_count}.get(oracle.burn_in)
    return paced if front is None else burn_in_quota(paced, front, total - labelled, askable_count)


def decide_round(rule: LabellingRule, iteration: int, round_index: int, items: Sequence[RoundItem], quota: int,
                 rng: np.random.Generator, scores: Sequence | None = None, model: LabelModel | None = None,
                 certificate: Certificate | None = None, skip_identical: bool = False) -> RoundDecision:
    """Who labels each of round ``round_index``'s ``items``. ``scores`` are every source's scores of each askable
    item's K responses (K x W, in :func:`askable` order; needed when the rule ``needs_scores``), ``model`` the label
    model when it may label (None: a rule that routes to it takes its burn-in split), ``certificate`` the confidence
    threshold certified for the round (``guaranteed``; cut per pair, a model label states only its pairs at or above
    the threshold; ``skip_identical``: a label's confidence leaves out pairs of one text twice,
    :func:`~rayrlhf.algorithms.label_model.model_label`). Deterministic for a given ``rng``."""
    idx = askable(items)
    labels = None
    per_pair = certificate is not None and certificate.unit == "pair"  # a prompt is labelled when any pair is certified
    if not idx:
        split, reason = Split(()), rule.reason
    elif rule.routes_to_model and model is None:
        split, reason, certificate = rule.burn_in(len(idx), quota, rng), BURN_IN, None
    else:
        if rule.routes_to_model:
            labels = [model_label(model, s, skip_identical) for s in scores]
        confidences = None if labels is None else [lab.surest() if per_pair else lab.confidence for lab in labels]
        view = RoundView(len(idx), scores, confidences, certificate.threshold if certificate is not None else None)
        split, reason = rule.split(view, quota, rng), rule.reason
    by_pair = per_pair and certificate.threshold is not None

    def labelled(j: int, states: bool = False) -> ModelLabelled:
        pairs = labels[j].pairs_at(certificate.threshold) if states and by_pair else None
        return ModelLabelled(idx[j], items[idx[j]].query().id, tuple(labels[j].ranking), labels[j].confidence, pairs)

    human = tuple(idx[j] for j in split.human)
    return RoundDecision(iteration, round_index, rule.name, human, tuple(items[i].query().id for i in human),
                         tuple(labelled(j, True) for j in split.model), tuple(labelled(j) for j in split.spot), reason,
                         tuple(i for i in range(len(items)) if i not in set(idx)), tuple(idx[j] for j in split.audit),
                         certificate)
