"""Source reward library: one interface (:class:`SourceReward`), five kinds, built from config."""

from __future__ import annotations

from collections.abc import Callable

from rayrlhf.config import SourceConfig
from rayrlhf.rewards.base import SourceReward

ModelResolver = Callable[[str], str]


def build_source(cfg: SourceConfig, resolve: ModelResolver = lambda name: name) -> SourceReward:
    """Instantiate the source ``cfg`` describes. ``resolve`` maps model names such as
    ``builtin:judge_lm`` to local directories (see :func:`rayrlhf.task.build.resolve_model`)."""
    if cfg.kind == "rouge":
        from rayrlhf.rewards.text_metrics import RougeReward

        return RougeReward(cfg)
    if cfg.kind == "bertscore":
        from rayrlhf.rewards.text_metrics import BertScoreReward

        return BertScoreReward(cfg.model_copy(update={"model": resolve(cfg.model)}) if cfg.model else cfg)
    if cfg.kind == "lm_logprob":
        from rayrlhf.rewards.models import LmLogprobReward

        return LmLogprobReward(cfg, resolve(cfg.model), resolve(cfg.ref_model) if cfg.ref_model else None)
    if cfg.kind == "classifier":
        from rayrlhf.rewards.models import ClassifierReward

        return ClassifierReward(cfg, resolve(cfg.model))
    if cfg.kind == "python":
        from rayrlhf.rewards.python_fn import PythonReward

        return PythonReward(cfg)
    raise ValueError(f"unknown source kind {cfg.kind!r}")


__all__ = ["SourceReward", "build_source"]
