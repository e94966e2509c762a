"""Source kinds: one registry (docs/extending.md, "A source kind").

A :class:`SourceKind` builds a :class:`~rayrlhf.rewards.base.SourceReward` from its config. The built-in kinds are
registered here; a package adds one with an entry point in group ``rayrlhf.source_kinds`` whose object is a
``SourceKind`` (or in-tree, with :func:`register_source_kind`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rayrlhf.config import SourceConfig
from rayrlhf.config.plugins import SOURCE_KINDS, add_to_registry, plugin_object
from rayrlhf.rewards.base import SourceReward

ModelResolver = Callable[[str], str]


@dataclass(frozen=True)
class SourceKind:
    """``name`` (what ``sources[].kind`` says), ``build(cfg, resolve)`` (``resolve`` maps a ``model`` such as
    ``builtin:judge_lm`` to a local directory), and what the config's ``model`` names: an HF model (``hf``, checked
    before the run starts), a ``module:function`` (``python``), or nothing the kind loads (None)."""

    name: str
    build: Callable[[SourceConfig, ModelResolver], SourceReward]
    model_ref: Literal["hf", "python"] | None = None


REGISTRY: dict[str, SourceKind] = {}


def register_source_kind(kind: SourceKind) -> SourceKind:
    """Add ``kind`` to the registry; its name must be new."""
    return add_to_registry(REGISTRY, kind.name, kind, "source kind")


def source_kind(name: str) -> SourceKind:
    """The kind ``name``: a registered one, else the one a package registers in entry-point group
    ``rayrlhf.source_kinds``."""
    return REGISTRY[name] if name in REGISTRY else plugin_object(SOURCE_KINDS, name, SourceKind)


def _rouge(cfg: SourceConfig, resolve: ModelResolver) -> SourceReward:
    from rayrlhf.rewards.text_metrics import RougeReward

    return RougeReward(cfg)


def _bertscore(cfg: SourceConfig, resolve: ModelResolver) -> SourceReward:
    from rayrlhf.rewards.text_metrics import BertScoreReward

    return BertScoreReward(cfg.model_copy(update={"model": resolve(cfg.model)}) if cfg.model else cfg)


def _lm_logprob(cfg: SourceConfig, resolve: ModelResolver) -> SourceReward:
    from rayrlhf.rewards.models import LmLogprobReward

    return LmLogprobReward(cfg, resolve(cfg.model), resolve(cfg.ref_model) if cfg.ref_model else None)


def _classifier(cfg: SourceConfig, resolve: ModelResolver) -> SourceReward:
    from rayrlhf.rewards.models import ClassifierReward

    return ClassifierReward(cfg, resolve(cfg.model))


def _python(cfg: SourceConfig, resolve: ModelResolver) -> SourceReward:
    from rayrlhf.rewards.python_fn import PythonReward

    return PythonReward(cfg)


def _served_only(cfg: SourceConfig, resolve: ModelResolver) -> SourceReward:
    raise ValueError(f"source '{cfg.name}': kind '{cfg.kind}' is scored by a server; give it `endpoint`")


for _kind in (SourceKind("rouge", _rouge), SourceKind("bertscore", _bertscore, "hf"),
              SourceKind("lm_logprob", _lm_logprob, "hf"), SourceKind("classifier", _classifier, "hf"),
              SourceKind("python", _python, "python"), SourceKind("http", _served_only),
              SourceKind("judge", _served_only)):
    register_source_kind(_kind)
