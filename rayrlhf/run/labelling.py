"""The labelling decision in a run (docs/method.md, "Model labels"; docs/architecture.md, "One labelling decision").

Per round, :class:`Labelling` reads what the run's rule needs (every source's scores of the askable prompts; the label
model when the rule routes to it), lets :func:`rayrlhf.labelling.decide_round` decide who labels each prompt, and,
for a rule that routes to the label model, appends the decision (its split and every model label) to
``RUN_DIR/model_labels.jsonl`` (fsynced) before anyone is asked, so a resumed run replays it exactly. Model labels
are never in the ledger, the paid count or the budget. After people answer, the label model learns from them
(:mod:`rayrlhf.run.label_model_run`).

Ray touch points: the sources' reward actors (``Workers``), through :mod:`rayrlhf.run.label_model_run`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rayrlhf.config import Config, ConfigError
from rayrlhf.core.durable import append_jsonl, read_jsonl
from rayrlhf.core.records import Answer, RoundItem
from rayrlhf.core.seeds import derived_seed
from rayrlhf.labelling import RoundDecision, askable, decide_round, rule_for
from rayrlhf.labelling.decide import round_quota
from rayrlhf.run.label_model_run import LabelModelRun, source_scores

MODEL_LABELS = "model_labels.jsonl"


@dataclass
class DecidedRound:
    """A round's decision and the source scores of its askable items (item index -> K x W; what the label model
    learns from when people answer)."""

    decision: RoundDecision
    scores: dict[int, list]


class Labelling:
    """Decides every round of a run with the rule ``cfg.oracle`` selects; keeps the label model when the rule routes
    to it (``label_model``; None otherwise)."""

    def __init__(self, cfg: Config, run_root: Path, workers, examples: list[dict]) -> None:
        self.cfg, self.o, self.workers = cfg, cfg.oracle, workers
        self.prompts = cfg.train.prompts_per_iteration
        self.rule = rule_for(cfg.oracle, self.prompts)
        self.label_model = None
        self.path = Path(run_root) / MODEL_LABELS
        self.record: dict[tuple[int, int], RoundDecision] = {}
        if self.rule.routes_to_model:
            self.label_model = LabelModelRun(self.o, tuple(s.name for s in cfg.sources), workers, examples)
            self.record = {(d.iteration, d.round): d for d in map(RoundDecision.from_json, read_jsonl(self.path))}

    @property
    def model(self):
        """The label model as it stands (for the ensemble arm's Best-of-N), or None."""
        return self.label_model.model if self.label_model is not None else None

    def decide(self, iteration: int, r: int, items: list[RoundItem], seen_after: int, labelled: int,
               timing: dict) -> DecidedRound:
        """Who labels round ``r``'s items (``seen_after`` prompts of the iteration seen once it is in, ``labelled``
        human labels so far). Deterministic, and a decision already on record (a resumed run) is replayed as written."""
        t = time.perf_counter()
        idx = askable(items)
        needs_scores = (self.rule.needs_scores or self.rule.routes_to_model) and idx
        scored = source_scores(self.workers, [items[i] for i in idx]) if needs_scores else []
        decision = self.record.get((iteration, r))
        if decision is not None:  # replayed as written; the identical items come from the saved round
            self._check_replay(decision, items)
            decision = replace(decision, identical=tuple(sorted(set(range(len(items))) - set(idx))))
        else:
            model = self.label_model.ready() if self.label_model is not None else None
            needs = self.label_model.burn_in_needs() if self.label_model is not None and model is None else None
            cert = (self.label_model.certificate(self.o.model_accuracy, 1.0 - self.o.accuracy_confidence)
                    if self.rule.certifies else None)
            certified = cert is not None and cert.threshold is not None
            quota = round_quota(self.o, self.prompts, self.rule, seen_after, labelled, needs, len(idx), certified)
            rng = np.random.default_rng(derived_seed(self.cfg.run.seed, "select", iteration, r))
            decision = decide_round(self.rule, iteration, r, items, quota, rng, scored or None, model, cert,
                                    self.o.confidence_skips_identical)
            if self.rule.routes_to_model:
                append_jsonl(self.path, [decision.to_json()])  # before anyone is asked: this round's resume point
                self.record[(iteration, r)] = decision
        if self.label_model is not None:
            self.label_model.count(items, self.model_answers(decision), decision.certificate)
            timing["route_s"] += time.perf_counter() - t
        elif needs_scores:
            timing["select_s"] += time.perf_counter() - t
        return DecidedRound(decision, dict(zip(idx, scored, strict=False)))

    def _check_replay(self, decision: RoundDecision, items: list[RoundItem]) -> None:
        named = [*zip(decision.human, decision.human_ids, strict=True), *((m.index, m.query_id) for m in decision.model)]
        for index, query_id in named:
            if index >= len(items) or items[index].query().id != query_id:
                raise ConfigError(f"{self.path}: iteration {decision.iteration} round {decision.round + 1} names query "
                                  f"{query_id}, which this round's saved responses do not hold; the run directory's "
                                  "rounds and model labels disagree (restore both from the same run)")

    def model_answers(self, decision: RoundDecision) -> dict[int, Answer]:
        """The label model's answers of the round, by item: partial rankings (best and worst), never paid, trained on
        with ``oracle.model_weight``."""
        return {m.index: Answer(m.query_id, list(m.ranking), partial=True, labeller="model", confidence=m.confidence,
                                pairs=None if m.pairs is None else list(m.pairs),
                                train_weight=self.o.model_weight) for m in decision.model}

    def complete(self, decided: DecidedRound, answers: list[Answer | None]) -> list[Answer | None]:
        """People's answers of the round (None where nobody answered) with the label model's answers filled in; the
        label model first learns from people's."""
        if self.label_model is None:
            return answers
        self.label_model.learn(decided.decision, decided.scores, answers)
        out = list(answers)
        for i, answer in self.model_answers(decided.decision).items():
            out[i] = answer
        return out

    def state(self) -> list[dict]:
        """The human answers the label model is fitted on (``state.json``), or none."""
        return self.label_model.state() if self.label_model is not None else []

    def iteration_metrics(self) -> tuple[dict, dict] | None:
        """The label model's figures of the iteration (:meth:`LabelModelRun.iteration_metrics`), or None."""
        return self.label_model.iteration_metrics() if self.label_model is not None else None
