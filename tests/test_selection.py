"""Which prompts get a label under a per-iteration budget: source disagreement, the quota, the pick."""

import itertools

import numpy as np
import pytest

from rayrlhf.algorithms.selection import all_identical, disagreement, label_quota, select_queries
from rayrlhf.experiments.methods import parse_method


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


def test_the_quota_keeps_pace_and_spends_exactly_the_budget():
    for labels, prompts, size in [(64, 128, 32), (50, 128, 32), (7, 20, 6), (128, 128, 32)]:
        done, seen, per_round = 0, 0, []
        while seen < prompts:
            n = min(size, prompts - seen)
            q = min(n, label_quota(labels, prompts, seen + n, done))
            per_round.append(q)
            done, seen = done + q, seen + n
        assert done == labels and max(per_round) - min(per_round) <= 2, per_round


def test_the_most_disputed_prompts_are_picked():
    rng = np.random.default_rng(0)
    assert select_queries(2, rng, [0.1, 0.9, 0.5, 0.7]) == [1, 3]
    picks = {tuple(select_queries(1, np.random.default_rng(s), [0.5, 0.5, 0.1])) for s in range(40)}
    assert picks == {(0,), (1,)}  # ties broken at random, never the undisputed one
    random_pick = select_queries(5, rng, num_items=10)
    assert len(set(random_pick)) == 5 and all(0 <= i < 10 for i in random_pick)
    assert select_queries(20, rng, num_items=3) == [0, 1, 2]


def test_method_specs():
    m = parse_method("ucb+disagreement@2")
    assert (m.mode, m.selection, m.multiple, m.family) == ("ucb", "disagreement", 2.0, "ucb+disagreement")
    assert parse_method("fixed:rouge").family == "fixed:rouge"
    with pytest.raises(ValueError, match="MODE@MULTIPLE"):
        parse_method("none@-1")
    with pytest.raises(ValueError, match="random or disagreement"):
        parse_method("ucb+greedy")
    m = parse_method("ucb+implied+disagreement@1.5")
    assert (m.selection, m.pairs, m.multiple, m.family) == ("disagreement", "implied", 1.5, "ucb+disagreement+implied")
    with pytest.raises(ValueError, match="transfer.pairs|pairs twice"):
        parse_method("ucb+implied+ranking")
    m = parse_method("ucb+implied+uncertain@2")
    assert (m.route, m.pairs, m.family) == ("uncertain", "implied", "ucb+implied+uncertain")
    with pytest.raises(ValueError, match="route twice"):
        parse_method("ucb+uncertain+route_random")


def test_routed_methods_buy_the_same_human_labels():
    """A routed method at M x buys M x the base prompts' labels from people and sees 1 / human_share times as many
    prompts; the model labels the rest (README, "How many labels does it save?")."""
    from rayrlhf.config import Config
    from rayrlhf.experiments.methods import method_config

    rouge = [{"name": "rouge", "kind": "rouge"}]
    base = Config.model_validate({"train": {"prompts_per_iteration": 128}, "oracle": {"human_share": 0.25}, "sources": rouge})
    plain = method_config(base, "none@2")
    assert (plain.train.prompts_per_iteration, plain.oracle.labels_per_iteration, plain.oracle.route) == (256, None, "all")
    routed = method_config(base, "ucb+uncertain")
    assert (routed.train.prompts_per_iteration, routed.oracle.labels_per_iteration, routed.oracle.route) == (512, 128, "uncertain")
    anchor = method_config(base, "ucb+route_random@1.5")
    assert (anchor.train.prompts_per_iteration, anchor.oracle.labels_per_iteration, anchor.oracle.route) == (768, 192, "random")
    budgeted = Config.model_validate({"train": {"prompts_per_iteration": 100}, "oracle": {"labels_per_iteration": 20},
                                      "sources": rouge})
    assert method_config(budgeted, "ucb+uncertain").train.prompts_per_iteration == 40  # human_share 0.5 of the default


def test_constant_sources_and_identical_texts_never_outrank_a_real_disagreement():
    """Issue 21: a prompt whose sources are constant (or whose K texts are one text) used to score 0.5, above
    prompts where the sources disagree a little, so it was picked first and then paid for an abstention."""
    a, swapped = [1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 3.0, 4.0]  # one discordant pair of six: 1/6
    little = disagreement([a, swapped])
    assert little == pytest.approx(discordant_share(a, swapped))
    constant = disagreement([[5.0] * 4, [3.0] * 4])
    one_constant = disagreement([a, [5.0] * 4, swapped])  # only the pair (a, swapped) has opinions on both sides
    assert constant == 0.0 < little and one_constant == pytest.approx(little)
    spread = [constant, little, 0.0]
    assert select_queries(1, np.random.default_rng(0), spread) == [1]
    assert all_identical(("x", "x", "x")) and all_identical(("x",)) and not all_identical(("x", "x", "y"))
