"""Four extensions of rayrlhf in one package, each registered by an entry point in pyproject.toml:

- ``toy_length``: a source kind that scores a response by how close it is to twelve words long;
- ``every_other``: a labelling rule (``oracle.query_selection: every_other``) that sends people every other askable
  prompt of a round, whatever the quota;
- ``shortest_first``: an oracle backend that ranks the K responses shortest first;
- ``hinge``: a preference loss (``optim.loss: hinge``), SLiC's ``max(0, 1 - beta * h)`` (Zhao et al. 2023).
"""

import torch

from rayrlhf.algorithms.losses import Loss
from rayrlhf.annotate.backend import AnnotationBackend
from rayrlhf.core.records import Answer
from rayrlhf.labelling import LabellingRule, Split
from rayrlhf.rewards.base import SourceReward
from rayrlhf.rewards.kinds import SourceKind


class LengthReward(SourceReward):
    """Minus the distance between a response's word count and twelve."""

    def _score(self, prompts, responses, references, conversations=None):
        return [-abs(len(r.split()) - 12) for r in responses]


TOY_LENGTH = SourceKind("toy_length", lambda cfg, resolve: LengthReward(cfg))


class EveryOther(LabellingRule):
    name, setting, reason = "every_other", ("query_selection", "every_other"), "every other askable prompt"

    def __init__(self, oracle):
        self.oracle = oracle

    def split(self, view, quota, rng):
        return Split(tuple(range(0, view.count, 2)))


class ShortestFirst(AnnotationBackend):
    """Ranks a query's responses by length, shortest first (two rounds may be asked at once)."""

    concurrent_ask = True

    def __init__(self, cfg, run_dir, score):
        pass

    def ask(self, queries, record):
        for q in queries:
            record(q, Answer(q.id, sorted(range(len(q.responses)), key=lambda k: (len(q.responses[k]), k))))


def hinge(chosen, rejected, beta, ranked_below):
    """``max(0, 1 - beta * h)`` on the implicit-reward margin ``h``; no listwise form."""
    if ranked_below is not None:
        raise ValueError("hinge has no listwise form; use transfer.pairs best_worst, implied or ranking")
    return torch.relu(1.0 - beta * (chosen - rejected))


HINGE = Loss("hinge", hinge)
