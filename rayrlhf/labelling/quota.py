"""How many labels people give in a round: the iteration's human labels spread over its rounds."""

from __future__ import annotations


def label_quota(total_labels: int, total_prompts: int, seen_after: int, labelled_so_far: int) -> int:
    """Labels for the next round so that labelling keeps pace with ``total_labels`` over ``total_prompts``:
    ``round(total_labels * seen_after / total_prompts) - labelled_so_far`` (never negative)."""
    return max(0, round(total_labels * seen_after / total_prompts) - labelled_so_far)


def burn_in_quota(paced: int, still_needed: int, remaining: int, askable: int) -> int:
    """People's labels in a burn-in round with ``oracle.burn_in: front``: enough to end the burn-in now
    (``still_needed`` more human labels before the label model may label), never less than the ``paced`` quota,
    never more than the iteration has left (``remaining``) or the round can ask (``askable``)."""
    return max(0, min(remaining, askable, max(paced, still_needed)))


def human_quota(labels_per_iteration: int | None, human_share: float, prompts_per_iteration: int) -> int:
    """Human labels per iteration with a routing rule (the label model labels the rest): ``oracle.labels_per_iteration``
    when set, else ``human_share`` of the prompts (at least one)."""
    if labels_per_iteration is not None:
        return labels_per_iteration
    return max(1, round(human_share * prompts_per_iteration))


def iteration_labels(labels_per_iteration: int | None, human_share: float, prompts_per_iteration: int,
                     routes_to_model: bool) -> int:
    """People's labels per iteration: every prompt (no ``labels_per_iteration``, or one at least the prompts), the
    ``labels_per_iteration`` selected, or with a routing rule :func:`human_quota`."""
    if routes_to_model:
        return human_quota(labels_per_iteration, human_share, prompts_per_iteration)
    if labels_per_iteration is None:
        return prompts_per_iteration
    return min(labels_per_iteration, prompts_per_iteration)
