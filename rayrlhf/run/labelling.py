"""Model labels in a run (docs/method.md, "Model labels"; ``oracle.route``): the label model fitted on people's
answers, each round's split between people and the model, and the record a resume replays.

Per round: every source scores the askable prompts' K responses; once ``oracle.route_after`` human labels exist
(pilot pairs included) the label model labels each prompt and :func:`~rayrlhf.algorithms.routing.route_round`
sends the round's human quota to people (the least sure, plus spot checks), the rest to the model. The split and
every model label (ranking, confidence) are appended to ``RUN_DIR/model_labels.jsonl`` (fsynced) before anyone is
asked, so a resumed run replays them exactly; model labels are never in the ledger, the paid count or the budget.
After people answer, their answers first score the model as it stood (held-out calibration), then join its
training set, and it is refitted.

Ray touch points: the sources' and the oracle's reward actors (``Workers.score``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rayrlhf.algorithms.label_model import (
    LabelExample,
    LabelModel,
    ModelLabel,
    fit_label_model,
    held_out_calibration,
    implied_pairs,
    mean_label_model,
    model_label,
    pair_agreement,
    pair_probs,
    score_agreement,
    weighting_accuracy,
)
from rayrlhf.algorithms.routing import route_round
from rayrlhf.algorithms.selection import select_queries
from rayrlhf.algorithms.stats import proportion_interval
from rayrlhf.algorithms.transfer import stated_pairs
from rayrlhf.config import Config, ConfigError
from rayrlhf.core.durable import append_jsonl, read_jsonl
from rayrlhf.core.records import Answer, RoundItem, ScoringBatch

MODEL_LABELS = "model_labels.jsonl"


@dataclass
class RoundRouting:
    """A round's split: the items people label, the model's answers for the rest, and the model's own label on each
    spot-checked item (compared with the person's answer, which is what is trained on)."""

    human: list[int]
    model_answers: dict[int, Answer]
    spot: dict[int, ModelLabel]
    scores: dict[int, list[list[float]]]  # item -> K x W source scores


@dataclass
class IterationStats:
    """What the label model did in one iteration, for ``metrics.jsonl`` (``label_model/...``)."""

    held_out: list[tuple[LabelModel, list[LabelExample]]] = field(default_factory=list)
    human: int = 0
    model: int = 0
    spot: list[int] = field(default_factory=lambda: [0, 0])  # agreeing, compared pairs
    oracle: list[int] = field(default_factory=lambda: [0, 0])


class LabelRouter:
    def __init__(self, cfg: Config, run_root: Path, workers, examples: list[dict]) -> None:
        self.cfg, self.o, self.workers = cfg, cfg.oracle, workers
        self.sources = tuple(s.name for s in cfg.sources)
        self.path = Path(run_root) / MODEL_LABELS
        self.record = {(row["iteration"], row["round"]): row for row in read_jsonl(self.path)}
        self.examples = [LabelExample.from_json(e) for e in examples]
        self.pilot = self._pilot_examples() if self.o.pilot_pairs else []
        self.model = self._fit()
        self.stats = IterationStats()

    def _fit(self) -> LabelModel | None:
        """The labeller on the answers so far: fitted (None before any), or the fixed mean (``oracle.labeller``)."""
        if self.o.labeller == "mean":
            return mean_label_model(self.sources)
        return fit_label_model(self.sources, self.pilot + self.examples)

    def state(self) -> list[dict]:
        """The human answers the model is fitted on (``state.json``: a resume refits on the same ones)."""
        return [e.to_json() for e in self.examples]

    def _source_scores(self, items: list[RoundItem]) -> list[list[list[float]]]:
        """Every source's score of every response: per item, K x W."""
        per_source = list(self.workers.every_source(ScoringBatch.of_items(items)).values())
        return [[[per_source[w][i][k] for w in range(len(self.sources))] for k in range(len(it.responses))]
                for i, it in enumerate(items)]

    def _pilot_examples(self) -> list[LabelExample]:
        from rayrlhf.rewards.evaluate import load_pairs

        pairs, _ = load_pairs(self.o.pilot_pairs)
        items = [RoundItem(p.prompt, p.reference, "pilot", (p.chosen, p.rejected), (False, False), "") for p in pairs]
        return [LabelExample(tuple(map(tuple, s)), ((0, 1),)) for s in self._source_scores(items)]

    def route(self, iteration: int, r: int, items: list[RoundItem], askable: list[int], quota: int,
              rng: np.random.Generator) -> RoundRouting:
        """Split round ``r``'s askable items; a split already on record (a resumed run) is replayed as written."""
        scored = self._source_scores([items[i] for i in askable]) if askable else []
        scores = dict(zip(askable, scored, strict=True))
        row = self.record.get((iteration, r))
        if row is None:
            row = self._new_split(iteration, r, items, askable, scores, quota, rng)
            append_jsonl(self.path, [row])  # before anyone is asked: the resume point of this round's model labels
            self.record[(iteration, r)] = row
        routing = self._from_row(row, items, scores)
        self._count(items, routing)
        return routing

    def _new_split(self, iteration, r, items, askable, scores, quota, rng) -> dict:
        def entry(i: int, label: ModelLabel) -> dict:
            return {"index": i, "query_id": items[i].query().id, "ranking": list(label.ranking), "confidence": label.confidence}

        row = {"iteration": iteration, "round": r, "model": [], "spot": []}
        if self.model is None or len(self.pilot) + len(self.examples) < self.o.route_after:  # burn-in: people only
            human = [askable[j] for j in select_queries(quota, rng, num_items=len(askable))]
        else:
            labels = [model_label(self.model, scores[i]) for i in askable]
            split = route_round([lab.confidence for lab in labels], quota, self.o.route, self.o.spot_check, rng)
            human = [askable[j] for j in split.human]
            row["model"] = [entry(askable[j], labels[j]) for j in split.model]
            row["spot"] = [entry(askable[j], labels[j]) for j in split.spot]
        row["human"] = [{"index": i, "query_id": items[i].query().id} for i in human]
        return row

    def _from_row(self, row: dict, items: list[RoundItem], scores: dict) -> RoundRouting:
        for e in row["human"] + row["model"]:
            if e["index"] >= len(items) or items[e["index"]].query().id != e["query_id"]:
                raise ConfigError(f"{self.path}: iteration {row['iteration']} round {row['round'] + 1} names query "
                                  f"{e['query_id']}, which this round's saved responses do not hold; the run directory's "
                                  "rounds and model labels disagree (restore both from the same run)")
        weight = self.o.model_weight
        answers = {e["index"]: Answer(e["query_id"], list(e["ranking"]), meta={
            "labeller": "model", "confidence": e["confidence"], "partial": True, "train_weight": weight}) for e in row["model"]}
        spot = {e["index"]: ModelLabel(tuple(e["ranking"]), e["confidence"]) for e in row["spot"]}
        return RoundRouting([e["index"] for e in row["human"]], answers, spot, scores)

    def _count(self, items: list[RoundItem], routing: RoundRouting) -> None:
        """Model labels of the round, and how often ``oracle.reward`` (the simulated oracle's r*, the evaluation's
        judge) orders their pairs the same way: with the simulated oracle, the model's accuracy where it labels."""
        self.stats.model += len(routing.model_answers)
        if not routing.model_answers:
            return
        idx = sorted(routing.model_answers)
        batch = ScoringBatch.of_items([items[i] for i in idx])
        gold = self.workers.scores(self.workers.score("oracle", batch), "oracle", "score", batch)
        for i, r_star in zip(idx, gold, strict=True):
            agree, compared = score_agreement(implied_pairs(routing.model_answers[i].ranking), r_star)
            self.stats.oracle[0] += agree
            self.stats.oracle[1] += compared

    def learn(self, routing: RoundRouting, answers: list[Answer | None]) -> None:
        """People's answers of the round: scored against the model as it stood, then added to its training set."""
        new = []
        for i in routing.human:
            a = answers[i]
            if a is None or a.ranking is None:
                continue
            partial = bool(a.meta.get("partial"))
            stated = stated_pairs(a.ranking, "ranking", "max_min", np.random.default_rng(0), partial=partial)
            new.append(LabelExample(tuple(map(tuple, routing.scores[i])), tuple(stated)))
            if i in routing.spot:
                agree, compared = pair_agreement(implied_pairs(routing.spot[i].ranking), stated)
                self.stats.spot[0] += agree
                self.stats.spot[1] += compared
        self.stats.human += len(new)
        if self.model is not None and new:
            self.stats.held_out.append((self.model, new))
        self.examples += new
        if new:
            self.model = self._fit()

    def iteration_metrics(self) -> tuple[dict, dict]:
        """``label_model/...`` figures of the iteration for ``metrics.jsonl`` (no key is another's prefix: MLflow files
        keys as paths) and the reliability table and weights for ``RUN_DIR/label_model/iter_N.json``; then the counts
        start again."""
        s, model = self.stats, self.model
        cal = _pooled_calibration(s.held_out)
        out = {"human_labels": s.human, "model_labels": s.model, "examples": len(self.pilot) + len(self.examples),
               "brier": cal.brier, "ece": cal.ece, "accuracy": cal.accuracy, "held_out_pairs": cal.count // 2}
        if s.held_out:
            out["accuracy_mean"] = _pooled(s.held_out, lambda m: [1.0] * len(self.sources))
            for w, name in enumerate(self.sources):
                out[f"source_accuracy/{name}"] = _pooled(s.held_out, lambda m, w=w: np.eye(len(self.sources))[w])
        for name, (agree, compared) in (("spot_accuracy", s.spot), ("oracle_accuracy", s.oracle)):
            interval = proportion_interval(agree, compared)
            out |= {name: interval.mean, f"{name}_ci_low": interval.low, f"{name}_ci_high": interval.high,
                    f"{name}_agree": agree, f"{name}_pairs": compared}
        if model is not None:
            out |= {f"weight/{name}": w for name, w in zip(self.sources, model.weights, strict=True)}
        detail = {"reliability": [list(b) for b in cal.bins],
                  "weights": dict(zip(self.sources, model.weights, strict=True)) if model else {}}
        self.stats = IterationStats()
        return out, detail


def _pooled_calibration(held_out: list[tuple[LabelModel, list[LabelExample]]]):
    """Calibration over the iteration's held-out answers, each scored by the model as it stood before them."""
    return held_out_calibration(np.concatenate([pair_probs(m, ex) for m, ex in held_out]) if held_out else [])


def _pooled(held_out: list[tuple[LabelModel, list[LabelExample]]], weights_of) -> float:
    """A fixed weighting's accuracy over the held-out answers (pooled over the rounds' batches)."""
    hits = [(weighting_accuracy(weights_of(m), ex), sum(len(e.pairs) for e in ex)) for m, ex in held_out]
    total = sum(n for _, n in hits)
    return float(sum(a * n for a, n in hits) / total) if total else float("nan")
