"""Logging: every module logs to ``logging.getLogger("rayrlhf...")``; the CLI sends it to stderr. Actors' output
reaches the driver through Ray (``log_to_driver``), which prints a line repeated by many workers once."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("rayrlhf")

# the actors' environments: their own warnings and errors reach the driver, the libraries' progress chatter does not
QUIET = {"VLLM_LOGGING_LEVEL": "ERROR", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
         "TRANSFORMERS_VERBOSITY": "error"}


def quiet_ray_internals() -> None:
    """Runs in each worker process of a local Ray (``ray.init``'s ``worker_process_setup_hook``). Ray Train's
    placement-group cleaner asks the state API every few seconds whether the controller lives; a local Ray without
    its dashboard does not serve that API, so it warned on every poll (dozens of lines per run). Its errors stay."""
    logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner").setLevel(logging.ERROR)


def setup(level: str | None = None) -> None:
    """Messages at ``level`` (``$RAYRLHF_LOG_LEVEL``, default INFO) to stderr, one line each."""
    level = (level or os.environ.get("RAYRLHF_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(level)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass


def info(message: str) -> None:
    logger.info(message)
