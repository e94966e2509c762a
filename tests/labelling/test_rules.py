"""The labelling rules on plain data (rayrlhf/labelling/rules.py, quota.py): each checked against a computation of
its own, no Ray."""

import itertools

import numpy as np
import pytest

from rayrlhf.algorithms.selection import disagreement
from rayrlhf.config import Config
from rayrlhf.labelling import RULES, LabellingRule, RoundView, Split, human_quota, label_quota, register_rule, rule_for
from rayrlhf.labelling.rules import LeastConfident, RandomRoute, SourcesDisagree, random_sample, top_by


def oracle(**kw):
    return Config.model_validate({"sources": [{"name": "rouge", "kind": "rouge"}], "oracle": kw}).oracle


def test_the_quota_keeps_pace_and_spends_exactly_the_budget():
    for labels, prompts, size in [(64, 128, 32), (50, 128, 32), (7, 20, 6), (128, 128, 32)]:
        done, seen, per_round = 0, 0, []
        while seen < prompts:
            n = min(size, prompts - seen)
            q = min(n, label_quota(labels, prompts, seen + n, done))
            per_round.append(q)
            done, seen = done + q, seen + n
        assert done == labels and max(per_round) - min(per_round) <= 2, per_round


def test_human_quota():
    assert human_quota(None, 0.5, 256) == 128 and human_quota(40, 0.5, 256) == 40 and human_quota(None, 0.001, 10) == 1


def test_the_picks_take_the_largest_values_or_a_uniform_sample():
    rng = np.random.default_rng(0)
    assert top_by([0.1, 0.9, 0.5, 0.7], 2, rng) == (1, 3)
    picks = {top_by([0.5, 0.5, 0.1], 1, np.random.default_rng(s)) for s in range(40)}
    assert picks == {(0,), (1,)}  # ties broken at random, never the smallest
    sample = random_sample(10, 5, rng)
    assert len(set(sample)) == 5 and all(0 <= i < 10 for i in sample)
    assert random_sample(3, 20, rng) == (0, 1, 2)
    counts = np.zeros(6)
    for s in range(600):
        counts[list(random_sample(6, 2, np.random.default_rng(s)))] += 1
    assert counts.min() > 150 and counts.max() < 250  # 200 each if uniform


def test_disagreement_sends_people_where_the_sources_rank_most_differently():
    """Source scores per prompt, K x W; the expected pick is the top quota of Kendall disagreement computed here."""
    rng = np.random.default_rng(1)
    scores = [rng.normal(size=(4, 3)).tolist() for _ in range(12)]
    spread = [disagreement(np.asarray(s).T) for s in scores]
    split = SourcesDisagree(oracle()).split(RoundView(12, scores), 4, np.random.default_rng(0))
    picked, rest = [spread[i] for i in split.human], [spread[i] for i in range(12) if i not in split.human]
    assert len(picked) == 4 and min(picked) >= max(rest) and split.model == () and split.spot == ()


def test_uncertain_sends_the_least_sure_and_spot_checks_to_people():
    conf = [0.9, 0.2, 0.99, 0.6, 0.5, 0.95, 0.7, 0.8, 0.3, 0.97]
    rule = LeastConfident(spot_check=0.25)
    r = rule.split(RoundView(10, confidences=conf), 4, np.random.default_rng(0))
    assert len(r.human) == 4 and len(r.spot) == 1 and set(r.spot) <= set(r.human)
    unsure = sorted(set(r.human) - set(r.spot))
    assert unsure == sorted(np.argsort(conf)[:3].tolist())
    assert conf[r.spot[0]] >= sorted(conf)[3]  # drawn among the confident ones
    assert sorted(r.human + r.model) == list(range(10)) and not set(r.human) & set(r.model)
    assert rule.split(RoundView(10, confidences=conf), 4, np.random.default_rng(0)) == r
    assert rule.split(RoundView(10, confidences=conf), 50, np.random.default_rng(0)).model == ()


def test_route_random_and_all():
    conf = list(np.linspace(0, 1, 20))
    seen = set()
    for seed in range(30):
        r = RandomRoute(oracle()).split(RoundView(20, confidences=conf), 5, np.random.default_rng(seed))
        assert len(r.human) == 5 and r.spot == r.human and len(r.model) == 15
        seen |= set(r.human)
    assert len(seen) > 15  # not the least sure each time
    assert RULES["all"](oracle()).split(RoundView(20), 5, np.random.default_rng(0)).human == tuple(range(20))


@pytest.mark.parametrize(("settings", "prompts", "name"), [
    ({}, 16, "all"), ({"labels_per_iteration": 16}, 16, "all"), ({"labels_per_iteration": 8}, 16, "random"),
    ({"labels_per_iteration": 8, "query_selection": "disagreement"}, 16, "disagreement"),
    ({"route": "uncertain"}, 16, "uncertain"), ({"route": "random", "labels_per_iteration": 4}, 16, "route_random")])
def test_the_config_selects_one_rule(settings, prompts, name):
    assert rule_for(oracle(**settings), prompts).name == name


def test_a_rule_registered_from_outside_is_chosen_by_its_setting_and_names_must_be_new():
    @register_rule
    class EveryOther(LabellingRule):
        name, setting, reason = "every_other_test", ("query_selection", "every_other_test"), "every second prompt"

        def __init__(self, oracle):
            pass

        def split(self, view, quota, rng):
            return Split(tuple(range(0, view.count, 2)))

    try:
        class Fake:  # an oracle section naming it (the config's Literal is the built-in set)
            route, labels_per_iteration, query_selection = "all", 4, "every_other_test"

        rule = rule_for(Fake, 16)
        assert rule.name == "every_other_test" and rule.split(RoundView(5), 2, None).human == (0, 2, 4)
        with pytest.raises(ValueError, match="registered already"):
            register_rule(EveryOther)
    finally:
        RULES.pop("every_other_test")
    with pytest.raises(ValueError, match="no labelling rule is registered for oracle.query_selection=every_other_test"):
        rule_for(Fake, 16)


def test_every_built_in_rule_splits_disjointly_and_within_the_quota():
    rng = np.random.default_rng(5)
    for name, quota, n in itertools.product(["random", "disagreement", "uncertain", "route_random"], [0, 3, 9], [0, 1, 8]):
        view = RoundView(n, rng.normal(size=(n, 4, 2)).tolist(), rng.random(n).tolist())
        split = RULES[name](oracle(spot_check=0.3)).split(view, quota, np.random.default_rng(0))
        assert len(split.human) == min(quota, n) and not set(split.human) & set(split.model)
        assert set(split.spot) <= set(split.human) and set(split.human) | set(split.model) <= set(range(n))
        if RULES[name].routes_to_model:
            assert sorted(split.human + split.model) == list(range(n))


def test_the_front_burn_in_quota_is_what_ends_the_burn_in_within_the_iteration_and_the_round():
    from rayrlhf.labelling.quota import burn_in_quota

    for paced, needs, remaining, askable in [(1, 3, 4, 6), (4, 3, 4, 6), (1, 64, 20, 32), (1, 64, 128, 10), (0, 0, 5, 5)]:
        expected = sorted([remaining, askable, max(paced, needs)])[0]  # the tightest of the three caps
        assert burn_in_quota(paced, needs, remaining, askable) == max(0, expected)
    assert burn_in_quota(2, 5, -1, 9) == 0  # an iteration already past its labels asks nobody


@pytest.mark.parametrize("burn_in", ["paced", "front", "certify"])
def test_a_round_without_a_certified_threshold_asks_the_whole_round_only_when_burn_in_is_certify(burn_in):
    """128 labels over 1,024 prompts in rounds of 32: paced, a round that brings the seen prompts to 64 after 4
    labels asks 4; `certify` asks the whole round (its 30 askable prompts) while nothing is certified, never more than
    the iteration has left, and the paced quota once a threshold is certified."""
    from rayrlhf.labelling.decide import round_quota

    cfg = oracle(route="guaranteed", labels_per_iteration=128, burn_in=burn_in, route_after=16)
    rule = rule_for(cfg, 1024)
    for labelled, certified, needs in [(4, False, 12), (4, True, None), (120, False, None), (128, False, None)]:
        paced = max(0, round(128 * 64 / 1024) - labelled)
        got = round_quota(cfg, 1024, rule, 64, labelled, needs, 30, certified)
        if burn_in == "certify" and not certified:
            assert got == min(30, 128 - labelled)
        elif burn_in == "front" and needs is not None:
            assert got == min(30, 128 - labelled, max(paced, needs))
        else:
            assert got == paced
