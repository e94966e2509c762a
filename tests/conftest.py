"""Shared fixtures: a tiny built-in task (seconds to build) and its config."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TINY_TASK = ["task.num_train=64", "task.num_eval=24", "task.num_heldout=12", "task.sft_steps=20", "task.judge_lm_steps=10"]


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rayrlhf-cache")


@pytest.fixture(scope="session")
def tiny_overrides(tiny_cache) -> list[str]:
    """Overrides that turn examples/quickstart.yaml into a seconds-scale task in a private cache."""
    return TINY_TASK + [f"task.cache_dir={tiny_cache}", "eval.reward_pairs=24"]


@pytest.fixture(scope="session")
def tiny_config(tiny_overrides):
    from rayrlhf.config import load_config

    return load_config(REPO / "examples" / "quickstart.yaml", tiny_overrides)


@pytest.fixture(scope="session")
def tiny_task(tiny_config):
    from rayrlhf.task.build import build_task

    return build_task(tiny_config.task, log=lambda m: None)
