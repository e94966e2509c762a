"""A coordinator on plain data for the run tests: a config with two sources, a length-scoring simulated oracle, items."""

from collections import Counter

from rayrlhf.algorithms.transfer import SELF_ARM
from rayrlhf.annotate.oracle import SimulatedOracle
from rayrlhf.config import Config
from rayrlhf.core.records import RoundItem
from rayrlhf.run.coordinator import Coordinator

SOURCES = [{"name": "good", "kind": "rouge"}, {"name": "bad", "kind": "rouge"}]


def config(**sections) -> Config:
    base = {"sources": SOURCES, "train": {"responses_per_prompt": 4}, "transfer": {"num_replace": 2, "best_of_n": 4}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return Config.model_validate(base)


class LengthOracle:
    """Scores a response by its length; counts every response it is paid to score."""

    def __init__(self):
        self.scored: Counter = Counter()

    def __call__(self, prompts, responses, references, conversations=None):
        self.scored.update(zip(prompts, responses, strict=True))
        return [float(len(r)) for r in responses]


def coordinator(tmp_path, cfg=None, oracle=None):
    cfg = cfg or config()
    oracle = oracle or LengthOracle()
    backend = SimulatedOracle(oracle, "deterministic", 1.0, 0.0, seed=0)
    return Coordinator(cfg, str(tmp_path), backend), oracle


def item(prompt: str, arm: str, responses, rp: int = 2) -> RoundItem:
    mask = tuple(i < rp and arm != SELF_ARM for i in range(len(responses)))
    return RoundItem(prompt, None, arm, tuple(responses), mask, responses[-1])
