"""Shared fixtures: a tiny built-in task (seconds to build) and its config."""

import os
from pathlib import Path

import pytest
import yaml

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


TINY_RUN = ["train.prompts_per_iteration=16", "train.responses_per_prompt=4", "transfer.best_of_n=4",
            "transfer.num_replace=2", "transfer.refresh_every=8", "train.iterations=2", "eval.num_prompts=12",
            "optim.batch_size=8", "optim.micro_batch_size=4", "optim.warmup_steps=0.1", "optim.epochs=1", "optim.lr=1e-3", "rollout.max_new_tokens=16", "rollout.num_cpus=0.5"]


@pytest.fixture(scope="session")
def train_config(tmp_path_factory, tiny_overrides):
    """A quickstart-shaped config with three cheap sources (the tiny task's judge LM included)."""
    path = tmp_path_factory.mktemp("cfg") / "train.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"dataset": "builtin"}, "policy": {"model": "builtin"},
        "rollout": {"kv_cache_gib": 0.5, "gpu_memory_utilization": 0.05},
        "sources": [
            {"name": "judge_lm", "kind": "lm_logprob", "model": "builtin:judge_lm", "num_cpus": 0.25},
            {"name": "rouge", "kind": "rouge", "num_cpus": 0.25},
            {"name": "dier", "kind": "python", "model": "tests.helpers:length_then_die_once", "num_cpus": 0.25},
        ],
    }))
    return [str(path), *tiny_overrides, *TINY_RUN]


