"""Shared fixtures: a tiny built-in task (seconds to build) and its config."""

import os
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO
from tests.support.tiers import TINY_RUN, TINY_TASK, UNROUTED

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rayrlhf-cache")


@pytest.fixture(scope="session")
def tiny_overrides(tiny_cache) -> list[str]:
    """Overrides that turn examples/quickstart.yaml into a seconds-scale task in a private cache."""
    return TINY_TASK + [f"task.cache_dir={tiny_cache}", "eval.reward_pairs=24", *UNROUTED]


@pytest.fixture(scope="session")
def tiny_config(tiny_overrides):
    from rayrlhf.config import load_config

    return load_config(REPO / "examples" / "quickstart.yaml", tiny_overrides)


@pytest.fixture(scope="session")
def tiny_task(tiny_config):
    from rayrlhf.task.build import build_task

    return build_task(tiny_config.task, log=lambda m: None)




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
            {"name": "dier", "kind": "python", "model": "tests.support.helpers:length_then_die_once", "num_cpus": 0.25},
        ],
    }))
    return [str(path), *tiny_overrides, *TINY_RUN]


@pytest.fixture()
def browser(tmp_path):
    """Headless Chromium through Selenium (tests/support/browser.py); a test that takes it is marked ``browser``."""
    from tests.support.browser import chromium_driver

    yield from chromium_driver(tmp_path)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """The in-process CLI of the bad-input suites (tests/support/bad_input.py: ``make_cli``)."""
    from tests.support.bad_input import make_cli

    return make_cli(tmp_path, monkeypatch, capsys)
