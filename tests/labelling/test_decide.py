"""The one labelling decision of a round on plain data (rayrlhf/labelling/decide.py, records.py): scores, the label
model, quotas; no Ray."""

import numpy as np

from rayrlhf.algorithms.label_model import LabelModel, features
from rayrlhf.config import Config
from rayrlhf.core.records import RoundItem
from rayrlhf.labelling import RoundDecision, askable, decide_round, rule_for
from rayrlhf.labelling.decide import BURN_IN, round_quota

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
