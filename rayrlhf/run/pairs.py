"""The training pairs of a round's answers, and which earlier iterations' pairs ``optim.replay`` trains again
(docs/method.md, "Training pairs")."""

from __future__ import annotations

import numpy as np

from rayrlhf.algorithms.transfer import stated_lists, stated_pairs
from rayrlhf.config import TransferConfig
from rayrlhf.core.records import Answer, PreferencePair, RoundItem


def replayed_iterations(replay: str, iteration: int) -> list[int]:
    """The earlier iterations whose pairs ``optim.replay`` trains again in ``iteration``: none, all, or the last N."""
    if replay == "none":
        return []
    first = 1 if replay == "all" else max(1, iteration - int(replay.removeprefix("last:")))
    return list(range(first, iteration))


def stated_factors(item: RoundItem, answer: Answer, transfer: TransferConfig,
                   rng: np.random.Generator) -> tuple[list[tuple[int, tuple[int, ...]]], int]:
    """The answer's (chosen, rejected...) index groups, as ``transfer.pairs`` asks: pairs (one rejected each) from
    :func:`stated_pairs`, or ``listwise`` Plackett-Luce factors from :func:`stated_lists`, using only the orders the
    answer states (a model label that states only some pairs, ``answer.pairs``: those pairs, whatever
    ``transfer.pairs``). A rejected response with the chosen one's text is dropped and counted (a Bradley-Terry draw can
    rank a duplicate first and last): in a pair it has no gradient; in a listwise factor it is not a distinct
    item, so it is left out of the factor rather than ranked against itself. Returns the groups and that count."""
    partial = answer.partial
    if answer.pairs is not None:
        stated = [(c, (j,)) for c, j in answer.pairs]
    elif transfer.pairs == "listwise":
        stated = stated_lists(answer.ranking, partial)
    else:
        stated = [(c, (j,)) for c, j in stated_pairs(answer.ranking, transfer.pairs, transfer.pair_strategy, rng, partial)]
    kept, identical = [], 0
    for chosen, rejected in stated:
        differ = tuple(j for j in rejected if item.responses[j] != item.responses[chosen])
        identical += len(rejected) - len(differ)
        if differ:
            kept.append((chosen, differ))
    return kept, identical


def answer_pairs(items: list[RoundItem], answers: list[Answer | None], transfer: TransferConfig,
                 rng: np.random.Generator) -> tuple[list[PreferencePair], int]:
    """The training pairs of each answered item (``transfer.pairs``: one, the implied ones, the whole ranking, or its
    Plackett-Luce factors; :func:`stated_factors`). With ``transfer.pair_weight: prompt`` an answer's n pairs (or
    factors) weigh 1/n each, so a prompt counts once whatever its pairs. A model label's pairs carry its
    ``train_weight`` (``oracle.model_weight``). Returns the pairs and the count of rejected responses dropped for
    having the chosen one's text (``train/identical_pairs``)."""
    pairs, identical = [], 0
    for item, answer in zip(items, answers, strict=True):
        if answer is None:
            continue
        kept, dropped = stated_factors(item, answer, transfer, rng)
        identical += dropped
        weight = (1.0 / len(kept) if kept and transfer.pair_weight == "prompt" else 1.0) * answer.train_weight
        pairs += [PreferencePair(item.prompt, item.responses[c], item.responses[rejected[0]], item.explore, weight,
                                 tuple(item.responses[j] for j in rejected[1:])) for c, rejected in kept]
    return pairs, identical
