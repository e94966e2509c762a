"""Torch dtypes by config name (``policy.dtype``, ``rollout.dtype``): shared by the learner and the rollout engines."""

from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str, on_gpu: bool) -> torch.dtype:
    """``auto``: bfloat16 on a GPU, float32 on CPU."""
    return (torch.bfloat16 if on_gpu else torch.float32) if name == "auto" else DTYPES[name]
