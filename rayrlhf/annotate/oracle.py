"""Oracle backends: who answers the queries ("best and worst of these K responses").

A backend subclasses :class:`~rayrlhf.annotate.backend.AnnotationBackend`: ``ask(queries, record)`` hands each
answer to ``record`` as it arrives (``record`` writes it to the ledger, :mod:`rayrlhf.annotate.ledger`). :class:`SimulatedOracle` answers
from a reward model's scores (deterministically, as in the paper, or Plackett-Luce sampled; docs/method.md); the
web and vendor backends (:mod:`rayrlhf.annotate.people`) answer with people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rayrlhf.algorithms.labels import oracle_ranking
from rayrlhf.annotate.backend import AnnotationBackend, require_backend
from rayrlhf.config.plugins import ORACLE_BACKENDS, load_plugin
from rayrlhf.core.records import Answer, Query, Record, ScoringBatch
from rayrlhf.core.seeds import derived_seed

ScoreFn = Callable[..., Sequence[float]]  # (prompts, responses, references, conversations=None) -> scores


class SimulatedOracle(AnnotationBackend):
    """Answers from a reward model's scores: deterministic ranking or Plackett-Luce with a temperature.
    ``score`` is the oracle reward (in a run: a call to its reward actor)."""

    concurrent_ask = True  # two rounds may be asked at once (transfer.delay): each answer depends on its query only

    def __init__(self, score: ScoreFn, mode: str, temperature: float, abstain_margin: float, seed: int) -> None:
        self.score = score
        self.mode, self.temperature, self.abstain_margin, self.seed = mode, temperature, abstain_margin, seed

    def ask(self, queries: list[Query], record: Record) -> None:
        if not queries:
            return
        batch = ScoringBatch.of([q.prompt for q in queries], [q.responses for q in queries],
                                [q.reference for q in queries], [q.conversation for q in queries])
        for q, scores in zip(queries, batch.split(list(self.score(*batch.columns()))), strict=True):
            rng = np.random.default_rng(derived_seed(self.seed, "oracle", q.id))  # the same answer if asked again
            ranking = oracle_ranking(scores, self.mode, self.temperature, rng, self.abstain_margin)
            record(q, Answer(q.id, ranking, scores))


def _simulated(cfg, run_root: Path, score: ScoreFn, log) -> AnnotationBackend:
    o = cfg.oracle
    oracle = SimulatedOracle(score, o.labels, o.temperature, o.abstain_margin, cfg.run.seed)
    if not o.pace.seconds_per_label:
        return oracle
    from rayrlhf.annotate.paced import PacedOracle

    return PacedOracle(oracle, o.pace.annotators, o.pace.seconds_per_label)


def _judge(cfg, run_root: Path, score: ScoreFn, log) -> AnnotationBackend:
    from rayrlhf.annotate.judge_oracle import JudgeOracle

    return JudgeOracle(cfg.oracle.reward)


def _python(cfg, run_root: Path, score: ScoreFn, log) -> AnnotationBackend:
    from rayrlhf.rewards.python_fn import import_callable

    cls = import_callable(cfg.oracle.backend_class, "oracle.backend_class")
    return require_backend(cls(cfg, str(run_root), score), f"oracle.backend_class={cfg.oracle.backend_class}")


def _plugin(cfg, run_root: Path, score: ScoreFn, log) -> AnnotationBackend:
    """A backend a package registers in entry-point group ``rayrlhf.oracle_backends``: an
    :class:`~rayrlhf.annotate.backend.AnnotationBackend` subclass, built with ``Class(cfg, run_dir, score)``."""
    cls = load_plugin(ORACLE_BACKENDS, cfg.oracle.backend)
    return require_backend(cls(cfg, str(run_root), score), f"entry point {cfg.oracle.backend!r} of {ORACLE_BACKENDS}")


def _web(cfg, run_root: Path, score: ScoreFn, log) -> AnnotationBackend:
    from rayrlhf.annotate.people import WebQueueBackend

    return WebQueueBackend.from_config(cfg.oracle, run_root, log)


def _vendor(cfg, run_root: Path, score: ScoreFn, log) -> AnnotationBackend:
    from rayrlhf.annotate.people import VendorBackend

    return VendorBackend.from_config(cfg.oracle, run_root, log)


# oracle.backend -> its builder, called with (cfg, run_root, score, log)
BACKENDS: dict[str, Callable[..., AnnotationBackend]] = {
    "simulated": _simulated, "judge": _judge, "python": _python, "web": _web, "vendor": _vendor}


def build_backend(cfg, run_root: Path, score: ScoreFn, log=print) -> AnnotationBackend:
    """The configured oracle backend (``oracle.backend``, from :data:`BACKENDS`): the simulated oracle (default), people
    through the web app or a vendor (:mod:`rayrlhf.annotate.people`), an LLM judge (:mod:`rayrlhf.annotate.judge_oracle`),
    a class of your own (``python``: ``oracle.backend_class`` names ``module:Class``, built with
    ``Class(cfg, run_dir, score)``; it subclasses :class:`~rayrlhf.annotate.backend.AnnotationBackend`), or one a
    package registers in entry-point group ``rayrlhf.oracle_backends`` (built the same way)."""
    return BACKENDS.get(cfg.oracle.backend, _plugin)(cfg, run_root, score, log)
