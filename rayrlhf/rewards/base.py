"""The one interface every source reward (and the simulated oracle) implements: text in, floats out.

``SourceReward.score`` does the bookkeeping once for all kinds: length checks, empty responses (scored
``empty_score`` without calling the model), the source's ``weight``, non-finite scores (replaced by
``empty_score`` and counted) and one warning per source for truncated inputs. Subclasses implement
``_score`` on non-empty responses only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from rayrlhf.config import SourceConfig

log = logging.getLogger(__name__)


def source_device(cfg: SourceConfig):
    """Where a model-based source runs: its GPU when it asks for one (``num_gpus``) and one is visible, else CPU."""
    import torch

    return torch.device("cuda" if cfg.num_gpus > 0 and torch.cuda.is_available() else "cpu")


def source_dtype(cfg: SourceConfig):
    """``dtype: auto``: bfloat16 on a GPU, float32 on CPU."""
    import torch

    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    return names[cfg.dtype] if cfg.dtype != "auto" else (torch.bfloat16 if source_device(cfg).type == "cuda" else torch.float32)


class SourceReward:
    """Base class: ``score(prompts, responses, references=None) -> list[float]``."""

    needs_reference = False

    def __init__(self, cfg: SourceConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.stats = {"scored": 0, "empty": 0, "nonfinite": 0, "truncated": 0}
        self._warned_truncation = False

    reads_conversations = False  # model sources with a chat template render chat prompts themselves (rayrlhf.data.chat)

    def score(
        self, prompts: Sequence[str], responses: Sequence[str], references: Sequence[str] | None = None,
        conversations: Sequence[str] | None = None,
    ) -> list[float]:
        """Scores of ``responses`` to ``prompts``; ``conversations`` (chat data: each prompt's conversation as
        JSON) reach the sources that read them."""
        if len(prompts) != len(responses) or (references is not None and len(references) != len(responses)):
            raise ValueError(
                f"source '{self.name}': got {len(prompts)} prompts, {len(responses)} responses and "
                f"{'no' if references is None else len(references)} references; the lengths must match"
            )
        if self.needs_reference and references is None:
            raise ValueError(
                f"source '{self.name}' ({self.cfg.kind}, against={self.cfg.against}) needs reference texts; "
                "set data.reference_field, or use against: prompt"
            )
        keep = [i for i, r in enumerate(responses) if r is not None and r.strip()]
        out = [self.cfg.empty_score] * len(responses)
        if keep:
            chats = {"conversations": [conversations[i] for i in keep]} if conversations and self.reads_conversations else {}
            raw = self._score(
                [prompts[i] for i in keep],
                [responses[i] for i in keep],
                None if references is None else [references[i] for i in keep],
                **chats,
            )
            if len(raw) != len(keep):
                raise RuntimeError(f"source '{self.name}' returned {len(raw)} scores for {len(keep)} responses")
            for i, s in zip(keep, raw, strict=True):
                s = float(s)
                if math.isfinite(s):
                    out[i] = self.cfg.weight * s
                else:
                    self.stats["nonfinite"] += 1
                    log.warning("source '%s' gave a non-finite score (%s); using empty_score", self.name, s)
        self.stats["scored"] += len(responses)
        self.stats["empty"] += len(responses) - len(keep)
        return out

    def _score(
        self, prompts: list[str], responses: list[str], references: list[str] | None
    ) -> Sequence[float]:
        raise NotImplementedError

    def _note_truncated(self, count: int) -> None:
        """Record inputs cut to ``max_length``; warn once per source."""
        if count <= 0:
            return
        self.stats["truncated"] += count
        if not self._warned_truncation:
            self._warned_truncation = True
            log.warning(
                "source '%s': %d input(s) longer than max_length=%d tokens were truncated "
                "(raise sources[].max_length to keep more; said once)", self.name, count, self.cfg.max_length,
            )

    def compared_text(self, prompts: list[str], references: list[str] | None) -> list[str]:
        """What rouge/bertscore compare a response with: the reference or the prompt (``against``)."""
        if self.cfg.against == "prompt":
            return prompts
        assert references is not None
        return references
