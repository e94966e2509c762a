"""How much the sources disagree on a prompt, and whether it has anything to rank (rayrlhf/algorithms/selection.py)."""

import itertools

import numpy as np
import pytest

from rayrlhf.algorithms.selection import all_identical, disagreement
from rayrlhf.labelling.rules import top_by


def discordant_share(a, b) -> float:
    """Share of response pairs two sources order differently (by hand; no ties in these scores)."""
    pairs = list(itertools.combinations(range(len(a)), 2))
    return sum((a[i] - a[j]) * (b[i] - b[j]) < 0 for i, j in pairs) / len(pairs)


def test_disagreement_is_the_discordant_share_between_sources():
    a, rev, other = [1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [2.0, 1.0, 4.0, 3.0]
    assert disagreement([a, a]) == 0.0
    assert disagreement([a, rev]) == 1.0
    assert disagreement([a, a, rev]) == pytest.approx(2 / 3)
    expected = np.mean([discordant_share(x, y) for x, y in itertools.combinations([a, rev, other], 2)])
    assert disagreement([a, rev, other]) == pytest.approx(expected)
    assert disagreement([a, [5.0] * 4]) == 0.0  # a source with no opinion has nothing to disagree with
    assert disagreement([a]) == 0.0
    with pytest.raises(ValueError, match="sources, K >= 2"):
        disagreement([[1.0]])


def test_constant_sources_and_identical_texts_never_outrank_a_real_disagreement():
    """A prompt whose sources are constant (or whose K texts are one text) scores 0, below prompts where the sources
    disagree a little, so it is never picked first and paid for an abstention."""
    a, swapped = [1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 3.0, 4.0]  # one discordant pair of six: 1/6
    little = disagreement([a, swapped])
    assert little == pytest.approx(discordant_share(a, swapped))
    constant = disagreement([[5.0] * 4, [3.0] * 4])
    one_constant = disagreement([a, [5.0] * 4, swapped])  # only the pair (a, swapped) has opinions on both sides
    assert constant == 0.0 < little and one_constant == pytest.approx(little)
    assert top_by([constant, little, 0.0], 1, np.random.default_rng(0)) == (1,)
    assert all_identical(("x", "x", "x")) and all_identical(("x",)) and not all_identical(("x", "x", "y"))
