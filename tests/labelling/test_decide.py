"""The one labelling decision of a round on plain data (rayrlhf/labelling/decide.py, records.py): scores, the label
model, quotas; no Ray."""

import json

import numpy as np

from rayrlhf.algorithms.label_model import LabelModel, features
from rayrlhf.config import Config
from rayrlhf.core.records import RoundItem
from rayrlhf.labelling import RoundDecision, askable, decide_round, rule_for
from rayrlhf.labelling.decide import BURN_IN, round_quota
from rayrlhf.labelling.guarantee import Certificate

SOURCES = [{"name": "a", "kind": "rouge"}, {"name": "b", "kind": "rouge"}]


def cfg(**oracle):
    return Config.model_validate({"sources": SOURCES, "train": {"prompts_per_iteration": 16}, "oracle": oracle})


def items(n: int, identical=()) -> list[RoundItem]:
    return [RoundItem(f"p{i}", None, "self", ("x",) * 3 if i in identical else (f"a{i}", f"b{i}", f"c{i}"),
                      (False,) * 3, "") for i in range(n)]


def scores_of(n: int, seed: int = 0) -> list:
    return np.random.default_rng(seed).normal(size=(n, 3, 2)).tolist()


def test_identical_responses_go_to_nobody_and_the_rest_to_the_rule():
    c = cfg(labels_per_iteration=4)
    round_items = items(8, identical={1, 5})
    assert askable(round_items) == (0, 2, 3, 4, 6, 7)
    d = decide_round(rule_for(c.oracle, 16), 1, 0, round_items, 2, np.random.default_rng(0))
    assert d.rule == "random" and len(d.human) == 2 and set(d.human) <= set(askable(round_items))
    assert d.identical == (1, 5) and d.who(1) == "nobody" and "one text" in d.why(1)
    assert d.human_ids == tuple(round_items[i].query().id for i in d.human)
    others = [i for i in askable(round_items) if i not in d.human]
    assert all(d.who(i) == "nobody" and "beyond this round's human quota" in d.why(i) for i in others)


def test_burn_in_sends_a_random_quota_to_people_and_nothing_to_the_model():
    c = cfg(route="uncertain", labels_per_iteration=8)
    d = decide_round(rule_for(c.oracle, 16), 1, 0, items(8), 3, np.random.default_rng(0), scores_of(8), model=None)
    assert len(d.human) == 3 and d.model == () and d.spot == () and d.reason == BURN_IN


def test_past_burn_in_the_model_labels_the_confident_ones_with_its_own_ranking():
    """The model labels and confidences are recomputed here from the weights by the Bradley-Terry definition."""
    c = cfg(route="uncertain", labels_per_iteration=8, spot_check=0.5)
    model = LabelModel(("a", "b"), (1.0, -0.5))
    s = scores_of(8, seed=3)
    d = decide_round(rule_for(c.oracle, 16), 2, 1, items(8), 2, np.random.default_rng(0), s, model)

    def by_hand(k_by_w):
        combined = features(k_by_w) @ np.array([1.0, -0.5])
        order = [int(k) for k in np.argsort(-combined, kind="stable")]
        best, worst = order[0], order[-1]
        probs = [1 / (1 + np.exp(-(combined[best] - combined[k]))) for k in order[1:]]
        probs += [1 / (1 + np.exp(-(combined[k] - combined[worst]))) for k in order[1:-1]]
        return order, min(probs)

    confidences = [by_hand(x)[1] for x in s]
    assert len(d.human) == 2 and len(d.spot) == 1 and len(d.model) == 6
    unsure = set(d.human) - {m.index for m in d.spot}
    assert unsure == {int(np.argmin(confidences))}
    for m in d.model:
        order, conf = by_hand(s[m.index])
        assert m.ranking[0] == order[0] and m.ranking[-1] == order[-1] and np.isclose(m.confidence, conf)
        assert d.who(m.index) == "model"
    assert "spot check" in d.why(d.spot[0].index) and d.who(d.spot[0].index) == "people"


def test_the_record_row_round_trips_and_keeps_the_model_labels_file_format():
    c = cfg(route="random", labels_per_iteration=8)
    d = decide_round(rule_for(c.oracle, 16), 1, 2, items(6, identical={4}), 2, np.random.default_rng(0), scores_of(5),
                     LabelModel(("a", "b"), (0.3, 0.7)))
    row = d.to_json()
    assert {"iteration", "round", "model", "spot", "human"} <= set(row)
    assert set(row["model"][0]) == {"index", "query_id", "ranking", "confidence"}
    assert RoundDecision.from_json(row) == d
    old = {k: row[k] for k in ("iteration", "round", "model", "spot", "human")}  # a row written before rule and reason
    assert RoundDecision.from_json(old).model == d.model and RoundDecision.from_json(old).human == d.human


def test_the_round_quota_spreads_the_iteration_s_human_labels():
    c = cfg(labels_per_iteration=6)
    assert round_quota(c.oracle, 16, rule_for(c.oracle, 16), 8, 0) == 3
    routed = cfg(route="uncertain", human_share=0.25)
    assert round_quota(routed.oracle, 16, rule_for(routed.oracle, 16), 16, 1) == 3  # 4 of 16, one given already
    every = cfg()
    assert round_quota(every.oracle, 16, rule_for(every.oracle, 16), 8, 0) == 8


def _by_hand_confidence(k_by_w, weights):
    combined = features(k_by_w) @ np.array(weights)
    order = [int(k) for k in np.argsort(-combined, kind="stable")]
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    return min([sig(combined[order[0]] - combined[k]) for k in order[1:]]
               + [sig(combined[k] - combined[order[-1]]) for k in order[1:-1]])


def test_guaranteed_labels_only_at_or_above_the_certified_threshold_and_people_a_uniform_sample():
    c = cfg(route="guaranteed", labels_per_iteration=8, audit_share=0.5)
    weights = (1.0, -0.5)
    s = scores_of(12, seed=5)
    conf = [_by_hand_confidence(x, weights) for x in s]
    threshold = float(np.median(conf))
    cert = Certificate(threshold, 0.91, 100, 40, 0.95, 0.9, 0.05)
    d = decide_round(rule_for(c.oracle, 16), 2, 0, items(12), 4, np.random.default_rng(1), s, LabelModel(("a", "b"), weights), cert)
    assert d.rule == "guaranteed" and d.certificate == cert and len(d.human) == 4
    assert set(d.audit) <= set(d.human) and {m.index for m in d.spot} == set(d.audit)
    assert {m.index for m in d.model} == {i for i in range(12) if conf[i] >= threshold and i not in d.human}
    assert RoundDecision.from_json(d.to_json()) == d
    if d.audit:
        assert "audit" in d.why(d.audit[0])
    nothing = decide_round(rule_for(c.oracle, 16), 2, 0, items(12), 4, np.random.default_rng(1), s,
                           LabelModel(("a", "b"), weights), Certificate(None, 0.5, 10, 0, 0.8, 0.9, 0.05))
    assert nothing.model == () and nothing.human == d.human  # people's sample never depends on the certificate


def test_guaranteed_people_are_a_uniform_sample_and_audits_an_audit_share_of_them():
    """Over many rounds: each prompt is sent to people with probability quota / n whatever its confidence, and each
    human label is an audit with probability audit_share, also at a per-round quota of 1."""
    from rayrlhf.labelling.rules import CertifiedRoute, RoundView

    rule, n, quota = CertifiedRoute(audit_share=0.3), 10, 3
    conf = np.linspace(0.5, 0.99, n)
    hits, audits, people = np.zeros(n), 0, 0
    for seed in range(3000):
        split = rule.split(RoundView(n, confidences=conf, threshold=0.8), quota, np.random.default_rng(seed))
        hits[list(split.human)] += 1
        audits, people = audits + len(split.audit), people + len(split.human)
        assert not set(split.model) & set(split.human) and all(conf[i] >= 0.8 for i in split.model)
    assert np.allclose(hits / 3000, quota / n, atol=0.04) and abs(audits / people - 0.3) < 0.02
    ones = [len(rule.burn_in(5, 1, np.random.default_rng(seed)).audit) for seed in range(2000)]
    assert abs(np.mean(ones) - 0.3) < 0.04
    assert len(rule.burn_in(3, 8, np.random.default_rng(0)).human) == 3  # the quota capped at the askable prompts


def test_guaranteed_audits_from_its_burn_in():
    c = cfg(route="guaranteed", labels_per_iteration=8, audit_share=0.5)
    d = decide_round(rule_for(c.oracle, 16), 1, 0, items(8), 4, np.random.default_rng(0), scores_of(8), model=None)
    assert d.reason == BURN_IN and d.model == () and len(d.human) == 4
    assert set(d.audit) <= set(d.human) and d.certificate is None


def _by_hand_pairs(k_by_w, weights):
    """The model's best/worst pairs and their probabilities, from the Bradley-Terry definition."""
    combined = features(k_by_w) @ np.array(weights)
    order = [int(k) for k in np.argsort(-combined, kind="stable")]
    pairs = [(order[0], k) for k in order[1:]] + [(k, order[-1]) for k in order[1:-1]]
    return [(p, 1 / (1 + np.exp(-(combined[p[0]] - combined[p[1]])))) for p in pairs]


def test_guaranteed_per_pair_states_only_the_certified_pairs_and_labels_prompts_with_one():
    c = cfg(route="guaranteed", labels_per_iteration=8, audit_share=0.5, certify_unit="pair")
    weights = (1.0, -0.5)
    s = scores_of(12, seed=5)
    by_hand = [_by_hand_pairs(x, weights) for x in s]
    threshold = float(np.median([max(p for _, p in h) for h in by_hand]))
    cert = Certificate(threshold, 0.91, 100, 40, 0.95, 0.9, 0.05, "pair")
    d = decide_round(rule_for(c.oracle, 16), 2, 0, items(12), 4, np.random.default_rng(1), s,
                     LabelModel(("a", "b"), weights), cert)
    sure = {i for i, h in enumerate(by_hand) if max(p for _, p in h) >= threshold}
    assert {m.index for m in d.model} == sure - set(d.human) and d.model
    for m in d.model:
        assert set(m.pairs) == {pair for pair, p in by_hand[m.index] if p >= threshold}
    assert all(s.pairs is None for s in d.spot)  # a spot label is compared whole with the person's answer
    assert RoundDecision.from_json(json.loads(json.dumps(d.to_json()))) == d
    prompt_cut = decide_round(rule_for(c.oracle, 16), 2, 0, items(12), 4, np.random.default_rng(1), s,
                              LabelModel(("a", "b"), weights), Certificate(0.5, 0.91, 100, 40, 0.95, 0.9, 0.05))
    assert prompt_cut.model and all(m.pairs is None for m in prompt_cut.model)
    assert "pairs" not in prompt_cut.to_json()["model"][0]


def test_a_confidence_that_skips_identical_pairs_stops_sending_people_duplicates_first():
    """Prompt 0 has one response twice (equal scores from every source): its least sure pair is that tie, 0.5, so
    `uncertain` sends it to people first; leaving such pairs out, its confidence is its least sure distinct pair (by
    hand from the Bradley-Terry definition) and the least sure prompt goes instead."""
    c = cfg(route="uncertain", labels_per_iteration=8, spot_check=0.0)
    weights = (1.0, -0.5)
    s = scores_of(6, seed=7)
    s[0][2] = list(s[0][1])
    model = LabelModel(("a", "b"), weights)
    plain = decide_round(rule_for(c.oracle, 16), 2, 0, items(6), 1, np.random.default_rng(0), s, model)
    assert plain.human == (0,)
    skipping = decide_round(rule_for(c.oracle, 16), 2, 0, items(6), 1, np.random.default_rng(0), s, model,
                            skip_identical=True)
    distinct = [min(p for (a, b), p in _by_hand_pairs(x, weights) if list(x[a]) != list(x[b])) for x in s]
    assert skipping.human == (int(np.argmin(distinct)),) and skipping.human != (0,)
    by_index = {m.index: m.confidence for m in skipping.model}
    assert all(np.isclose(by_index[i], distinct[i]) for i in by_index)


def test_per_pair_a_label_never_states_a_pair_of_one_text_twice():
    """At threshold 0.5 a label states every pair it has, except a pair of two responses every source scores the
    same (probability exactly 0.5, and it trains nothing)."""
    c = cfg(route="guaranteed", labels_per_iteration=8, audit_share=0.5)
    s = scores_of(6, seed=9)
    s[2][1] = list(s[2][0])
    d = decide_round(rule_for(c.oracle, 16), 2, 0, items(6), 0, np.random.default_rng(0), s,
                     LabelModel(("a", "b"), (1.0, -0.5)), Certificate(0.5, 0.9, 100, 100, 0.95, 0.8, 0.05, "pair"))
    stated = {m.index: set(m.pairs) for m in d.model}
    assert set(stated) == set(range(6))
    assert {(0, 1), (1, 0)} & stated[2] == set() and len(stated[2]) == 2  # 3 responses: 3 pairs, 1 a tie
    assert all(len(stated[i]) == 3 for i in stated if i != 2)
