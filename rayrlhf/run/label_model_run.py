"""The label model in a run (docs/method.md, "Model labels"): fitted on people's answers (pilot pairs included),
scored on each round's answers before it learns from them (held-out calibration), and its model labels checked
against the simulated oracle's ``r*`` and against a fresh simulated person (``oracle.labels``: the quantity a
guarantee's target is on).

Ray touch points: the sources' and the oracle's reward actors (``Workers``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rayrlhf.algorithms.label_model import (
    LabelExample,
    LabelModel,
    fit_label_model,
    held_out_calibration,
    implied_pairs,
    mean_label_model,
    pair_agreement,
    pair_probs,
    score_agreement,
    weighting_accuracy,
)
from rayrlhf.algorithms.labels import person_agreement
from rayrlhf.algorithms.stats import proportion_interval
from rayrlhf.algorithms.transfer import stated_pairs
from rayrlhf.core.records import Answer, RoundItem, ScoringBatch
from rayrlhf.labelling import RoundDecision
from rayrlhf.labelling.guarantee import Certificate, audit, certify


@dataclass
class IterationStats:
    """What the label model did in one iteration, for ``metrics.jsonl`` (``label_model/...``)."""

    held_out: list[tuple[LabelModel, list[LabelExample]]] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    human: int = 0
    model: int = 0
    spot: list[int] = field(default_factory=lambda: [0, 0])  # agreeing, compared pairs
    oracle: list[int] = field(default_factory=lambda: [0, 0])
    person: list[float] = field(default_factory=lambda: [0.0, 0])  # expected agreeing, compared pairs


def source_scores(workers, items: list[RoundItem]) -> list[list[list[float]]]:
    """Every source's score of every response: per item, K x W (sources in config order)."""
    per_source = list(workers.every_source(ScoringBatch.of_items(items)).values())
    return [[[per_source[w][i][k] for w in range(len(per_source))] for k in range(len(it.responses))]
            for i, it in enumerate(items)]


class LabelModelRun:
    """The label model of a run: ``oracle.labeller`` fitted (or the fixed mean) on the ``examples`` people answered."""

    def __init__(self, oracle, sources: tuple[str, ...], workers, examples: list[dict]) -> None:
        self.o, self.sources, self.workers = oracle, sources, workers
        self.examples = [LabelExample.from_json(e) for e in examples if not e.get("audit")]
        self.audits = [LabelExample.from_json(e) for e in examples if e.get("audit")]  # never fitted on
        self.pilot = self._pilot_examples() if oracle.pilot_pairs else []
        self.model = self._fit()
        self.stats = IterationStats()

    def _fit(self) -> LabelModel | None:
        """The labeller on the answers so far: fitted (None before any), or the fixed mean (``oracle.labeller``)."""
        if self.o.labeller == "mean":
            return mean_label_model(self.sources)
        return fit_label_model(self.sources, self.pilot + self.examples)

    def burn_in_needs(self) -> int:
        """Human labels still needed before ``oracle.route_after`` (pilot included) lets the model label."""
        return max(0, self.o.route_after - len(self.pilot) - len(self.examples))

    def ready(self) -> LabelModel | None:
        """The model when it may label (past ``oracle.route_after`` human labels, pilot included), else None."""
        if self.model is None or len(self.pilot) + len(self.examples) < self.o.route_after:
            return None
        return self.model

    def state(self) -> list[dict]:
        """The human answers the model is fitted on and the audits (``state.json``: a resume refits and certifies on
        the same ones)."""
        return [e.to_json() for e in self.examples] + [e.to_json() | {"audit": True} for e in self.audits]

    def certificate(self, target: float, delta: float) -> Certificate | None:
        """The confidence threshold certified for the model as it stands on every audit so far (none of which it
        was fitted on; :func:`rayrlhf.labelling.guarantee.certify`, cut per ``oracle.certify_unit``), or None before
        the model may label."""
        model = self.ready()
        if model is None:
            return None
        skip = self.o.confidence_skips_identical
        fitted = audit(model, self.pilot + self.examples, skip) if self.o.certify_test == "sequence" else []
        return certify(audit(model, self.audits, skip), target, delta, unit=self.o.certify_unit,
                       test=self.o.certify_test, fitted=fitted, bound=self.o.certify_bound)

    def _pilot_examples(self) -> list[LabelExample]:
        from rayrlhf.rewards.evaluate import load_pairs

        pairs, _ = load_pairs(self.o.pilot_pairs)
        items = [RoundItem(p.prompt, p.reference, "pilot", (p.chosen, p.rejected), (False, False), "") for p in pairs]
        return [LabelExample(tuple(map(tuple, s)), ((0, 1),)) for s in source_scores(self.workers, items)]

    def count(self, items: list[RoundItem], model_answers: dict[int, Answer], certificate: Certificate | None) -> None:
        """The round's certificate (route guaranteed), its model labels, and how often ``oracle.reward`` (the simulated oracle's r*, the evaluation's
        judge) orders their pairs the same way, and how many a fresh simulated person would (``oracle.labels``): with the
        simulated oracle, the model's accuracy where it labels."""
        if certificate is not None:
            self.stats.certificates.append(certificate)
        self.stats.model += len(model_answers)
        if not model_answers:
            return
        idx = sorted(model_answers)
        batch = ScoringBatch.of_items([items[i] for i in idx])
        gold = self.workers.oracle_scores(batch)
        for i, r_star in zip(idx, gold, strict=True):
            answer = model_answers[i]
            stated = answer.pairs if answer.pairs is not None else implied_pairs(answer.ranking)
            agree, compared = score_agreement(stated, r_star)
            self.stats.oracle[0] += agree
            self.stats.oracle[1] += compared
            expected, pairs = person_agreement(stated, r_star, self.o.labels, self.o.temperature)
            self.stats.person[0] += expected
            self.stats.person[1] += pairs

    def learn(self, decision: RoundDecision, scores: dict[int, list], answers: list[Answer | None]) -> None:
        """People's answers of the round: scored against the model as it stood, then added to its training set."""
        new, audits, spot = [], [], {s.index: s for s in decision.spot}
        for i in decision.human:
            a = answers[i]
            if a is None or a.ranking is None:
                continue
            stated = stated_pairs(a.ranking, "ranking", "max_min", np.random.default_rng(0), partial=a.partial)
            (audits if i in decision.audit else new).append(LabelExample(tuple(map(tuple, scores[i])), tuple(stated)))
            if i in spot:
                agree, compared = pair_agreement(implied_pairs(spot[i].ranking), stated)
                self.stats.spot[0] += agree
                self.stats.spot[1] += compared
        self.stats.human += len(new) + len(audits)
        if self.model is not None and new + audits:
            self.stats.held_out.append((self.model, new + audits))
        self.examples += new
        self.audits += audits
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
        expected, pairs = s.person
        out |= {"person_accuracy": expected / pairs if pairs else float("nan"), "person_accuracy_pairs": pairs}
        if self.o.route == "guaranteed":
            out |= _certificate_metrics(s.certificates, s.human, s.model, self.o.model_accuracy, len(self.audits))
        if model is not None:
            out |= {f"weight/{name}": w for name, w in zip(self.sources, model.weights, strict=True)}
        detail = {"reliability": [list(b) for b in cal.bins],
                  "weights": dict(zip(self.sources, model.weights, strict=True)) if model else {}}
        self.stats = IterationStats()
        return out, detail


def _certificate_metrics(certificates: list[Certificate], human: int, model: int, target: float, audits: int) -> dict:
    """The guarantee's figures of an iteration (route guaranteed): the share of labelled prompts people answered, the
    last round's certified threshold (nan: none), the lowest accuracy bound among rounds the model labelled in, the
    audits it rests on and the target. An iteration with no certificate (the model not yet fitted) has people on every
    labelled prompt, no threshold, and the ``audits`` kept so far."""
    labelled = [c for c in certificates if c.threshold is not None]
    last = certificates[-1] if certificates else None
    threshold = last.threshold if last is not None else None
    return {"human_share": human / (human + model) if human + model else float("nan"),
            "threshold": float("nan") if threshold is None else threshold,
            "accuracy_bound": min(c.bound for c in labelled) if labelled else float("nan"),
            "certified_rounds": len(labelled), "audits": last.audited if last is not None else audits,
            "target_accuracy": target}


def _pooled_calibration(held_out: list[tuple[LabelModel, list[LabelExample]]]):
    """Calibration over the iteration's held-out answers, each scored by the model as it stood before them."""
    return held_out_calibration(np.concatenate([pair_probs(m, ex) for m, ex in held_out]) if held_out else [])


def _pooled(held_out: list[tuple[LabelModel, list[LabelExample]]], weights_of) -> float:
    """A fixed weighting's accuracy over the held-out answers (pooled over the rounds' batches)."""
    hits = [(weighting_accuracy(weights_of(m), ex), sum(len(e.pairs) for e in ex)) for m, ex in held_out]
    total = sum(n for _, n in hits)
    return float(sum(a * n for a, n in hits) / total) if total else float("nan")
