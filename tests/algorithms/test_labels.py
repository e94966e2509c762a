"""A fresh simulated person's expected agreement with stated pairs (rayrlhf/algorithms/labels.py), against Monte
Carlo draws of the person's own rankings and against counts by hand."""

import numpy as np
import pytest

from rayrlhf.algorithms.labels import oracle_ranking, person_agreement


def _sampled_agreement(labelled, scores, temperature, draws, rng):
    """Share of the labelled pairs that rankings drawn by ``oracle_ranking`` order the same way."""
    agree = 0
    for _ in range(draws):
        position = {slot: rank for rank, slot in enumerate(oracle_ranking(scores, "bradley_terry", temperature, rng))}
        agree += sum(position[a] < position[b] for a, b in labelled)
    return agree / (draws * len(labelled))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_bradley_terry_expectation_matches_the_rankings_people_draw(temperature):
    """Four responses, a model label stating five pairs (one against its gap, one a tie): the expectation equals
    the share of 20,000 drawn four-way rankings that agree (tolerance about 4 standard errors)."""
    scores = [2.0, 0.5, 0.5, -1.0]
    labelled = [(0, 1), (0, 3), (1, 3), (3, 2), (1, 2)]
    expected, compared = person_agreement(labelled, scores, "bradley_terry", temperature)
    sampled = _sampled_agreement(labelled, scores, temperature, 20_000, np.random.default_rng(1))
    assert compared == 5
    assert expected / compared == pytest.approx(sampled, abs=0.006)


def test_bradley_terry_by_hand():
    expected, compared = person_agreement([(0, 1), (1, 0), (2, 1)], [1.0, 0.0, 0.0], "bradley_terry", 2.0)
    sig = 1 / (1 + np.exp(-0.5))
    assert compared == 3 and expected == pytest.approx(sig + (1 - sig) + 0.5)


def test_deterministic_counts_the_pairs_the_scores_order_and_leaves_ties_out():
    assert person_agreement([(0, 1), (2, 1), (1, 2), (3, 0)], [3.0, 1.0, 1.0, 2.0], "deterministic", 1.0) == (1.0, 2)


def test_an_unknown_mode_names_the_choices():
    with pytest.raises(ValueError, match="choose 'deterministic' or 'bradley_terry'"):
        person_agreement([(0, 1)], [1.0, 0.0], "plackett", 1.0)
