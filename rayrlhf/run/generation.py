"""A round's responses (docs/method.md step 3): K policy samples per prompt and, for prompts on a source arm, N more
that the arm's source scores, its top Rp swapped into the first Rp slots (Best-of-N).

Ray touch points: the rollout actor and the reward actors (``Workers.generate``, ``Workers.score``).
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np

from rayrlhf.algorithms.label_model import ENSEMBLE_ARM, LabelModel, ensemble_scores
from rayrlhf.algorithms.transfer import SELF_ARM, replace_with_best_of_n
from rayrlhf.config import Config
from rayrlhf.core.records import RoundItem, ScoringBatch
from rayrlhf.core.seeds import derived_seed
from rayrlhf.run.actor_group import Workers


def online_samples(cfg: Config, workers: Workers, iteration: int, chunk: list[dict], timing: dict) -> list[list[str]]:
    """K policy samples of each prompt of ``chunk`` in one engine call (``rollout.samples_in_one_call``: an
    iteration's rounds at once; :func:`generate_round` then takes them as ``base``)."""
    t = time.perf_counter()
    texts = [row["prompt"] for row in chunk]
    seed = derived_seed(cfg.run.seed, "online", iteration, texts[0])
    rows = workers.generate(texts, cfg.train.responses_per_prompt, None, seed)
    timing["generate_s"] += time.perf_counter() - t
    return [[s["text"] for s in row] for row in rows]


def round_requests(texts: list[str], arms: list[str], k: int, n: int,
                   samples_given: bool = False) -> tuple[list[str], list[int], dict[str, list[int]]]:
    """A round's one engine call: the prompts asked and how many samples of each (K for every prompt, unless its K are
    given, then N for each prompt on a source arm, grouped by arm in order of first appearance), and the indices of
    the prompts on each source arm."""
    by_arm: dict[str, list[int]] = defaultdict(list)
    for i, arm in enumerate(arms):
        if arm != SELF_ARM:
            by_arm[arm].append(i)
    on_sources = [i for idx in by_arm.values() for i in idx]
    wanted = ([] if samples_given else list(texts)) + [texts[i] for i in on_sources]
    counts = ([] if samples_given else [k] * len(texts)) + [n] * len(on_sources)
    return wanted, counts, dict(by_arm)


def generate_round(cfg: Config, workers: Workers, iteration: int, chunk: list[dict], arms: list[str], timing: dict,
                   label_model: LabelModel | None = None, base: list[list[str]] | None = None) -> list[RoundItem]:
    """The :class:`RoundItem` of each prompt of ``chunk`` on its arm: one engine call (K for every prompt, N for those
    on a source arm; only the N when the K are given as ``base``), then each source arm's Best-of-N.
    ``label_model`` weighs the ``ensemble`` arm's sources."""
    K, N, rp = cfg.train.responses_per_prompt, cfg.transfer.best_of_n, cfg.transfer.num_replace
    texts = [row["prompt"] for row in chunk]
    refs = [row.get("reference") for row in chunk]
    chats = [row.get("conversation") for row in chunk]
    t = time.perf_counter()
    seed = derived_seed(cfg.run.seed, "gen", iteration, texts[0])
    wanted, counts, by_arm = round_requests(texts, arms, K, N, samples_given=base is not None)
    on_sources = [i for idx in by_arm.values() for i in idx]
    rows = [[s["text"] for s in row] for row in workers.generate(wanted, counts, None, seed)] if wanted else []
    if base is None:
        base, rows = rows[: len(texts)], rows[len(texts) :]
    extra_of = dict(zip(on_sources, rows, strict=True))
    extra = {arm: [extra_of[i] for i in idx] for arm, idx in by_arm.items()}
    timing["generate_s"] += time.perf_counter() - t
    t = time.perf_counter()
    batches = {arm: ScoringBatch.of([texts[i] for i in idx], extra[arm], [refs[i] for i in idx],
                                    [chats[i] for i in idx]) for arm, idx in by_arm.items()}
    futures = {arm: _score_refs(workers, arm, batch) for arm, batch in batches.items()}
    responses, masks = [list(b) for b in base], [[False] * K for _ in base]
    for arm, idx in by_arm.items():
        scores = _arm_scores(workers, arm, futures[arm], batches[arm], label_model)
        for j, i in enumerate(idx):
            responses[i], masks[i] = replace_with_best_of_n(base[i], extra[arm][j], scores[j], rp)
    timing["score_s"] += time.perf_counter() - t
    return [RoundItem(texts[i], refs[i], arms[i], tuple(responses[i]), tuple(masks[i]), base[i][-1], chats[i])
            for i in range(len(chunk))]


def _score_refs(workers: Workers, arm: str, batch: ScoringBatch):
    """References to an arm's Best-of-N scores: its source's, or every source's for the ensemble arm."""
    if arm == ENSEMBLE_ARM:
        return {name: workers.score(name, batch) for name in workers.sources}
    return workers.score(arm, batch)


def _arm_scores(workers: Workers, arm: str, refs, batch: ScoringBatch, label_model: LabelModel | None) -> list[list[float]]:
    """An arm's scores per prompt; the ensemble arm's combine every source's with the label model's weights
    (``transfer.ensemble``; :func:`ensemble_scores`)."""
    if arm != ENSEMBLE_ARM:
        return workers.scores(refs, arm, "score", batch)
    per_source = [workers.scores(refs[name], name, "score", batch) for name in workers.sources]
    return [ensemble_scores(label_model, np.array([s[i] for s in per_source]).T) for i in range(len(batch.sizes))]
