"""The labelling decision in a run (rayrlhf/run/labelling.py) in-process, with real sources scoring in this process
instead of reward actors: what model_labels.jsonl holds, what a resume replays, the label model's answers."""

import json
from dataclasses import replace

import numpy as np
import pytest

from rayrlhf.algorithms.transfer import crediting_answers
from rayrlhf.annotate.oracle import SimulatedOracle
from rayrlhf.config import Config
from rayrlhf.core.records import Answer, RoundItem, ScoringBatch
from rayrlhf.labelling import askable
from rayrlhf.rewards import build_source
from rayrlhf.run.coordinator import Coordinator
from rayrlhf.run.labelling import MODEL_LABELS, Labelling

SOURCES = [{"name": "long", "kind": "python", "model": "tests.run.test_labelling:length"},
           {"name": "short", "kind": "python", "model": "tests.run.test_labelling:shortness"}]


def length(prompts, responses, references=None):
    return [float(len(r)) for r in responses]


def shortness(prompts, responses, references=None):
    return [-float(len(r)) + (i % 3) for i, r in enumerate(responses)]


class LocalScorers:
    """The two calls Labelling makes on the run's workers, answered by the same sources built in this process."""

    def __init__(self, cfg: Config):
        self.sources = {s.name: build_source(s) for s in cfg.sources}

    def every_source(self, batch: ScoringBatch) -> dict[str, list[list[float]]]:
        return {name: batch.split(src.score(*batch.columns())) for name, src in self.sources.items()}

    def oracle_scores(self, batch: ScoringBatch, stage: str = "score") -> list[list[float]]:
        return batch.split(length(*batch.columns()[:2]))


def config(**oracle) -> Config:
    return Config.model_validate({"sources": SOURCES, "train": {"prompts_per_iteration": 8, "responses_per_prompt": 3},
                                  "transfer": {"num_replace": 1, "best_of_n": 2},
                                  "oracle": {"route": "uncertain", "labels_per_iteration": 4, "route_after": 1, **oracle}})


def items(tag: str) -> list[RoundItem]:
    texts = [("a", "bb", "ccc"), ("x", "x", "x"), ("dd", "e", "ffff"), ("gg", "hhh", "i"),
             ("jjjj", "k", "ll"), ("m", "m", "m"), ("nnn", "oo", "p"), ("qq", "rrrr", "s")]
    return [RoundItem(f"{tag}{i}", None, "self", t, (False,) * 3, "") for i, t in enumerate(texts)]


def test_a_routed_round_is_recorded_before_anyone_is_asked_and_a_resume_replays_it(tmp_path):
    cfg, timing = config(), {"route_s": 0.0}
    first = Labelling(cfg, tmp_path, LocalScorers(cfg), [])
    burn = first.decide(1, 0, items("a"), 8, 0, timing)  # no label model yet: burn-in, the quota to people only
    assert len(burn.decision.human) == 4 and burn.decision.model == () and burn.decision.identical == (1, 5)
    answers = [Answer(it.query().id, sorted(range(3), key=lambda k: -len(it.responses[k]))) if i in burn.decision.human
               else None for i, it in enumerate(items("a"))]
    first.complete(burn, answers)  # the label model learns from people's answers
    routed = first.decide(2, 0, items("b"), 8, 0, timing)
    assert len(routed.decision.human) == 4 and len(routed.decision.model) == 2 and timing["route_s"] > 0
    rows = [json.loads(line) for line in (tmp_path / MODEL_LABELS).read_text().splitlines()]
    assert [(r["iteration"], r["round"]) for r in rows] == [(1, 0), (2, 0)]

    again = Labelling(cfg, tmp_path, LocalScorers(cfg), first.state())  # a resumed run
    replayed = again.decide(2, 0, items("b"), 8, 0, {"route_s": 0.0})
    assert replayed.decision == routed.decision
    filled = again.complete(replayed, [None] * 8)
    assert {i for i, a in enumerate(filled) if a is not None} == {m.index for m in routed.decision.model}
    assert all(a.labeller == "model" and a.partial and a.confidence is not None for a in filled if a is not None)


def test_a_row_written_before_the_decision_record_replays_with_its_identical_items(tmp_path):
    cfg = config()
    round_items = items("c")
    idx = askable(round_items)
    old = {"iteration": 1, "round": 0, "model": [], "spot": [],
           "human": [{"index": i, "query_id": round_items[i].query().id} for i in idx[:2]]}
    (tmp_path / MODEL_LABELS).write_text(json.dumps(old) + "\n")
    d = Labelling(cfg, tmp_path, LocalScorers(cfg), []).decide(1, 0, round_items, 8, 0, {"route_s": 0.0}).decision
    assert d.human == tuple(idx[:2]) and d.identical == (1, 5) and d.who(idx[2]) == "nobody"


def _answers(round_items, who):
    return [Answer(it.query().id, sorted(range(3), key=lambda k: -len(it.responses[k]))) if i in who else None
            for i, it in enumerate(round_items)]


def test_guaranteed_keeps_its_audits_out_of_the_fit_and_records_each_round_s_certificate(tmp_path):
    cfg, timing = config(route="guaranteed", audit_share=0.5, route_after=1), {"route_s": 0.0}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Labelling(cfg, tmp_path / "a", LocalScorers(cfg), [])
    burn = first.decide(1, 0, items("a"), 8, 0, timing)
    audits = set(burn.decision.audit)
    assert audits <= set(burn.decision.human) and len(burn.decision.human) == 4
    first.complete(burn, _answers(items("a"), burn.decision.human))
    assert len(first.label_model.audits) == len(audits) and len(first.label_model.examples) == 4 - len(audits)
    state = first.state()
    assert sum(bool(row.get("audit")) for row in state) == len(audits)
    routed = first.decide(2, 0, items("b"), 8, 0, timing)
    cert = routed.decision.certificate
    assert cert is not None and cert.audited == len(audits) and cert.threshold is None  # too few audits to certify
    assert routed.decision.model == () and len(routed.decision.human) == 4
    fresh = Labelling(cfg, tmp_path / "b", LocalScorers(cfg), state)  # a resumed model, deciding anew
    assert len(fresh.label_model.audits) == len(audits) and fresh.label_model.examples == first.label_model.examples
    assert fresh.label_model.certificate(cfg.oracle.model_accuracy, 1.0 - cfg.oracle.accuracy_confidence) == cert
    again = Labelling(cfg, tmp_path / "a", LocalScorers(cfg), state)  # a resumed run: replayed as written
    assert again.decide(2, 0, items("b"), 8, 0, {"route_s": 0.0}).decision == routed.decision


def test_a_certify_burn_in_asks_whole_rounds_until_a_threshold_is_certified_then_paces(tmp_path):
    """`oracle.burn_in: certify`: with no label model yet and no certificate, a round asks people up to the
    iteration's 4 labels (the paced share of a round that brings the seen prompts to 2 is 1); with the label model
    certified on 200 audits the same round asks the paced 1 and the model labels the rest it is sure of."""
    cfg = config(route="guaranteed", model_accuracy=0.9, burn_in="certify")
    (tmp_path / "new").mkdir()
    (tmp_path / "certified").mkdir()
    burn = Labelling(cfg, tmp_path / "new", LocalScorers(cfg), []).decide(1, 0, items("a"), 2, 0, {"route_s": 0.0})
    assert len(burn.decision.human) == 4 and burn.decision.model == () and burn.decision.certificate is None
    run = Labelling(cfg, tmp_path / "certified", LocalScorers(cfg), _rows(np.random.default_rng(0)))
    routed = run.decide(1, 0, items("a"), 2, 0, {"route_s": 0.0}).decision
    assert routed.certificate.threshold is not None and len(routed.human) == 1 and routed.model


def _rows(rng):
    """40 fitted answers and 200 audits where the longer response always wins."""
    from rayrlhf.algorithms.label_model import LabelExample

    def example(audit):
        lengths = rng.permutation(3) + 1.0
        scores = [[lengths[k], -lengths[k] + rng.normal()] for k in range(3)]
        truth = sorted(range(3), key=lambda k: -lengths[k])
        row = LabelExample(tuple(map(tuple, scores)), tuple((truth[i], truth[j]) for i in range(3) for j in range(i + 1, 3)))
        return row.to_json() | ({"audit": True} if audit else {})

    return [example(False) for _ in range(40)] + [example(True) for _ in range(200)]


def _audited_by_hand(model, examples):
    """``examples`` rescored by hand: per prompt its least sure pair and agreement, per pair each pair's
    probability (a sigmoid of the combined scores' gap) and whether the person orders it that way."""
    from rayrlhf.algorithms.label_model import implied_pairs, model_label, pair_agreement
    from rayrlhf.labelling.guarantee import Audited

    out = []
    for ex in examples:
        label = model_label(model, ex.scores)
        agree, compared = pair_agreement(implied_pairs(label.ranking), ex.pairs)
        combined = model.combined(ex.scores)
        pairs = tuple((float(1 / (1 + np.exp(combined[b] - combined[a]))), (a, b) in ex.pairs)
                      for a, b in implied_pairs(label.ranking))
        out.append(Audited(label.confidence, agree / compared, pairs))
    return out


@pytest.mark.parametrize("unit,test", [("prompt", "bonferroni"), ("pair", "bonferroni"), ("pair", "sequence")])
def test_the_certificate_is_the_guarantee_of_the_audits_under_the_current_model(tmp_path, unit, test):
    """The model (fitted on other answers) certifies a threshold on 200 audits, and it is the one certify() gives
    for the audits rescored by hand (the sequence ordered on the fitted answers, rescored the same way)."""
    from rayrlhf.labelling.guarantee import certify

    cfg = config(route="guaranteed", model_accuracy=0.9, certify_unit=unit, certify_test=test)
    run = Labelling(cfg, tmp_path, LocalScorers(cfg), _rows(np.random.default_rng(0))).label_model
    cert = run.certificate(0.9, 0.05)
    by_hand = _audited_by_hand(run.model, run.audits)
    fitted = _audited_by_hand(run.model, run.examples)
    assert cert == certify(by_hand, 0.9, 0.05, unit=unit, test=test, fitted=fitted)
    assert cert.threshold is not None and cert.bound >= 0.9 and cert.unit == unit


def test_per_pair_model_answers_state_their_certified_pairs_and_a_resume_replays_them(tmp_path):
    cfg = config(route="guaranteed", model_accuracy=0.9, certify_unit="pair", labels_per_iteration=2)
    first = Labelling(cfg, tmp_path, LocalScorers(cfg), _rows(np.random.default_rng(0)))
    routed = first.decide(2, 0, items("b"), 8, 0, {"route_s": 0.0})
    cert = routed.decision.certificate
    assert cert.unit == "pair" and cert.threshold is not None and routed.decision.model
    filled = first.complete(routed, _answers(items("b"), routed.decision.human))
    for m in routed.decision.model:
        assert filled[m.index].pairs == list(m.pairs) and m.pairs and filled[m.index].labeller == "model"
    again = Labelling(cfg, tmp_path, LocalScorers(cfg), first.state())
    assert again.decide(2, 0, items("b"), 8, 0, {"route_s": 0.0}).decision == routed.decision


def test_a_front_burn_in_asks_people_enough_to_end_it_in_one_round(tmp_path):
    """`oracle.burn_in: front`: a burn-in round asks people what the label model still needs (route_after 3 here)
    instead of the round's paced share (4 labels over 8 prompts, a round that brings the seen prompts to 2: 1); once
    people have given them the model labels the next round, whose paced quota is then 0."""
    timing = {"route_s": 0.0}
    (tmp_path / "paced").mkdir()
    (tmp_path / "front").mkdir()
    paced = Labelling(config(route_after=3), tmp_path / "paced", LocalScorers(config()), []).decide(1, 0, items("a"), 2, 0, timing)
    assert len(paced.decision.human) == 1
    cfg = config(route_after=3, burn_in="front")
    front = Labelling(cfg, tmp_path / "front", LocalScorers(cfg), [])
    burn = front.decide(1, 0, items("a"), 2, 0, timing)
    assert len(burn.decision.human) == 3 and burn.decision.model == ()
    answers = [Answer(it.query().id, sorted(range(3), key=lambda k: -len(it.responses[k]))) if i in burn.decision.human
               else None for i, it in enumerate(items("a"))]
    front.complete(burn, answers)
    routed = front.decide(1, 1, items("b"), 4, 3, timing)  # pace: round(4 * 4 / 8) - 3 < 0 -> nobody
    assert routed.decision.human == () and len(routed.decision.model) == 6


@pytest.mark.parametrize("credit", ["people", "labels"])
def test_transfer_credit_labels_credits_arms_with_the_model_s_labels_too(tmp_path, credit):
    """`transfer.credit`: a routed round's arm ("long", its response in slot 0) is credited on the prompts people
    answered (`people`) or on every labelled prompt (`labels`); each credit is 1 where the answer ranks slot 0 first,
    counted here from the answers by hand."""
    cfg = config(route="guaranteed", model_accuracy=0.9, labels_per_iteration=2)
    cfg = cfg.model_copy(update={"transfer": cfg.transfer.model_copy(update={"credit": credit})})
    run = Labelling(cfg, tmp_path, LocalScorers(cfg), _rows(np.random.default_rng(0)))
    round_items = [replace(it, arm="long", transfer_mask=(True, False, False)) for it in items("b")]
    decided = run.decide(2, 0, round_items, 8, 0, {"route_s": 0.0})
    people = _answers(round_items, decided.decision.human)
    labelled = run.complete(decided, people)
    assert decided.decision.model and decided.decision.human  # both kinds of answer in the round
    credited = list(decided.decision.human) + ([m.index for m in decided.decision.model] if credit == "labels" else [])
    coord = Coordinator(cfg, str(tmp_path), SimulatedOracle(length, "deterministic", 1.0, 0.0, seed=0))
    coord.start_iteration(2)
    coord.record_wins(round_items, crediting_answers(cfg.transfer.credit, people, labelled))
    wins = sum(labelled[i].ranking[0] == 0 for i in credited)
    m = coord.metrics()
    assert m["arm/long/count"] == len(credited)
    assert m["arm/long/win_rate"] == pytest.approx(wins / len(credited))


def test_transfer_credit_labels_needs_a_label_model():
    with pytest.raises(ValueError, match="transfer.credit=labels .* oracle.route=all"):
        Config.model_validate({"sources": SOURCES, "transfer": {"credit": "labels"}})
    with pytest.raises(ValueError, match="transfer.credit must be"):
        crediting_answers("model", [], [])
