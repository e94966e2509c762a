"""Source reward library: one interface (:class:`SourceReward`), seven built-in kinds (three of them servable over
HTTP) in one registry (:mod:`rayrlhf.rewards.kinds`), built from config."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rayrlhf.config import SourceConfig
from rayrlhf.rewards.base import SourceReward
from rayrlhf.rewards.kinds import ModelResolver, SourceKind, register_source_kind, source_kind


def build_source(cfg: SourceConfig, resolve: ModelResolver = lambda name: name, cache_dir: Path | None = None) -> SourceReward:
    """Instantiate the source ``cfg`` describes. ``resolve`` maps model names such as
    ``builtin:judge_lm`` to local directories (see :func:`rayrlhf.task.build.resolve_model`); ``cache_dir`` keeps
    an ``http`` source's scores (one file per source and URL) so a resume does not pay its endpoint twice."""
    if cfg.endpoint is not None:
        return _remote_source(cfg, resolve, cache_dir)
    return source_kind(cfg.kind).build(cfg, resolve)


def _remote_source(cfg: SourceConfig, resolve: ModelResolver, cache_dir: Path | None) -> SourceReward:
    """A source scored by a server (docs/rewards_service.md); its scores cached in ``cache_dir`` per source and URL."""
    assert cfg.endpoint is not None
    tag = hashlib.sha256(cfg.endpoint.url.encode()).hexdigest()[:12]
    cache = None if cache_dir is None else Path(cache_dir) / f"{cfg.name}-{tag}.jsonl"
    if cfg.kind == "http":
        from rayrlhf.rewards.remote import HttpReward

        return HttpReward(cfg, cache)
    if cfg.kind == "judge":
        from rayrlhf.rewards.judge import JudgeReward

        return JudgeReward(cfg, cache)
    from rayrlhf.rewards.remote_logprob import EndpointLmLogprob

    assert cfg.kind == "lm_logprob" and cfg.model
    return EndpointLmLogprob(cfg, resolve(cfg.model), cache)


__all__ = ["SourceKind", "SourceReward", "build_source", "register_source_kind", "source_kind"]
