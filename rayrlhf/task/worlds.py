"""The built-in worlds' training data (``task.name``): their splits, the tokenizer corpus, and the examples the
initial policy and the judge LM source are fine-tuned on. Each world draws everything from ``task.seed``."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from rayrlhf.config import TaskConfig

SPLITS = ("train", "eval", "heldout")
WORLD_VERSIONS = {"instructions": 1}  # raised when a world's generator changes, so its cached builds are not reused


@dataclass(frozen=True)
class WorldData:
    """What a world's build trains on: ``splits`` (rows by split), the ``corpus`` its tokenizers learn, and
    (prompt, response) examples for the initial policy and the judge LM, each described for the build log."""

    splits: dict[str, list[dict]]
    corpus: list[str]
    policy_examples: list[tuple[str, str]]
    judge_examples: list[tuple[str, str]]
    policy_data: str
    judge_data: str


def _sizes(cfg: TaskConfig) -> dict[str, int]:
    return {"train": cfg.num_train, "eval": cfg.num_eval, "heldout": cfg.num_heldout}


def summaries(cfg: TaskConfig) -> WorldData:
    """News briefs to summarise (rayrlhf/task/world.py); the policy learns from noisy summaries, the judge LM from
    clean template summaries."""
    from rayrlhf.task.corrupt import noisy_summary
    from rayrlhf.task.world import SUMMARY_TEMPLATES, facts_of, make_split

    sizes = _sizes(cfg)
    splits = {name: make_split(cfg.seed * 1000 + i, sizes[name]) for i, name in enumerate(SPLITS)}
    sft_rows = make_split(cfg.seed * 1000 + 7, cfg.num_train)  # SFT documents are disjoint from RL prompts
    rng = random.Random(cfg.seed)
    noisy = [(r["prompt"], " " + noisy_summary(rng, facts_of(r), r["document"])) for r in sft_rows]
    clean = [(r["prompt"], " " + rng.choice(SUMMARY_TEMPLATES).format(**facts_of(r).__dict__)) for r in sft_rows]
    return WorldData(splits, [r["prompt"] + " " + r["reference"] for r in sft_rows], noisy, clean,
                     "noisy summaries", "clean summaries")


def instructions(cfg: TaskConfig) -> WorldData:
    """Short texts under verifiable rules (rayrlhf/task/instructions/); the policy learns from responses that break
    each kind of rule at its own rate, the judge LM from rule-keeping responses on random topics."""
    from rayrlhf.task.instructions.rules import parse_prompt
    from rayrlhf.task.instructions.world import graded_response, judge_response, make_split

    sizes = _sizes(cfg)
    splits = {name: make_split(cfg.seed * 1000 + 100 + i, sizes[name]) for i, name in enumerate(SPLITS)}
    sft_rows = make_split(cfg.seed * 1000 + 107, cfg.num_train)
    rng = random.Random(cfg.seed)
    graded = [(r["prompt"], " " + graded_response(rng, parse_prompt(r["prompt"]))) for r in sft_rows]
    judged = [(r["prompt"], " " + judge_response(rng, parse_prompt(r["prompt"]))) for r in sft_rows]
    corpus = [r["prompt"] + " " + r["reference"] + g for r, (_, g) in zip(sft_rows, graded, strict=True)]
    return WorldData(splits, corpus, graded, judged, "responses that break rules at graded rates",
                     "rule-keeping responses on random topics")


WORLDS: dict[str, Callable[[TaskConfig], WorldData]] = {"summaries": summaries, "instructions": instructions}
