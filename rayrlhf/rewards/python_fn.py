"""``python`` sources: any importable ``module:function(prompts, responses, references) -> list[float]``."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from rayrlhf.config import SourceConfig
from rayrlhf.rewards.base import SourceReward


def import_callable(spec: str, what: str = "python source model") -> Callable:
    """Resolve ``"package.module:function"`` (or ``:Class``) with a message that says what to fix."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{what} must look like 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} for {spec!r}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{module_name!r} has no callable {attr!r} (from {spec!r})")
    return fn


class PythonReward(SourceReward):
    def __init__(self, cfg: SourceConfig) -> None:
        super().__init__(cfg)
        self._fn = import_callable(cfg.model or "")

    def _score(self, prompts, responses, references):
        return self._fn(prompts, responses, references)
