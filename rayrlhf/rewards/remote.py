"""``kind: http``: a source (or the oracle) scored by a server (docs/rewards_service.md; the wire format is
:mod:`rayrlhf.rewards.protocol`, the call rules :mod:`rayrlhf.rewards.transport`).

Batches of ``batch_size`` items go out ``max_concurrency`` at a time. Scores are cached per (prompt, response,
reference) in memory and, when the run gives a file, on disk, so a retry or a resume does not pay the endpoint
twice; :class:`CachedRemoteReward` is that cache for every remote kind (http, lm_logprob over an endpoint, judges).
"""

from __future__ import annotations

from pathlib import Path

from rayrlhf.config import SourceConfig
from rayrlhf.core.durable import append_jsonl, read_jsonl
from rayrlhf.rewards.base import SourceReward
from rayrlhf.rewards.protocol import ScoreItem, parse_scores, request_body
from rayrlhf.rewards.transport import EndpointCaller


class ScoreCache:
    """Scores by item key; appended to ``path`` (JSONL of ``{"key", "score"}``, no text) when one is given."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.scores = {row["key"]: float(row["score"]) for row in read_jsonl(path)} if path and path.exists() else {}

    def __contains__(self, key: str) -> bool:
        return key in self.scores

    def __getitem__(self, key: str) -> float:
        return self.scores[key]

    def add(self, items: list[ScoreItem], scores: list[float]) -> None:
        rows = [{"key": it.key(), "score": s} for it, s in zip(items, scores, strict=True)]
        self.scores.update((r["key"], r["score"]) for r in rows)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            append_jsonl(self.path, rows)


class CachedRemoteReward(SourceReward):
    """A source scored by an endpoint: items already in the cache are not sent again; subclasses implement
    :meth:`_fetch`, which adds the scores of items not yet cached (each batch as it comes back, so a later failure
    keeps it)."""

    def __init__(self, cfg: SourceConfig, cache_path: Path | None = None) -> None:
        super().__init__(cfg)
        assert cfg.endpoint is not None
        self.endpoint = cfg.endpoint
        self.caller = EndpointCaller(cfg.endpoint, f"source '{cfg.name}'")
        self.shown = self.caller.shown
        self.cache = ScoreCache(cache_path)
        self.stats.update(cached=0)

    def _score(self, prompts: list[str], responses: list[str], references: list[str] | None, **_) -> list[float]:
        items = [ScoreItem(p, r, None if references is None else references[i])
                 for i, (p, r) in enumerate(zip(prompts, responses, strict=True))]
        keys = [it.key() for it in items]
        todo = list({k: it for k, it in zip(keys, items, strict=True) if k not in self.cache}.values())
        self.stats["cached"] += len(items) - len(todo)
        if todo:
            self._fetch(todo)
        self.stats.update(self.caller.stats)
        return [self.cache[k] for k in keys]

    def _fetch(self, items: list[ScoreItem]) -> None:
        raise NotImplementedError

    def batches(self, items: list[ScoreItem]) -> list[list[ScoreItem]]:
        size = self.cfg.batch_size
        return [items[i:i + size] for i in range(0, len(items), size)]


class HttpReward(CachedRemoteReward):
    """Scores from ``cfg.endpoint`` in the service's own wire format (:mod:`rayrlhf.rewards.protocol`)."""

    def _fetch(self, items: list[ScoreItem]) -> None:
        batches = self.batches(items)
        self.caller.run_all([request_body(b) for b in batches],
                            lambda i, body: parse_scores(body, len(batches[i])),
                            lambda i, scores: self.cache.add(batches[i], scores))
