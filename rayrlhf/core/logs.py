"""Logging: rayrlhf's own lines on the terminal, everyone else's in the run directory (docs/architecture.md).

Every module logs to ``logging.getLogger("rayrlhf...")``; the CLI sends it to stderr (:func:`setup`). While a run
works (:func:`run_logs`), third-party output goes to ``RUN_DIR/logs/``: the driver's warnings, other libraries'
log records and whatever Ray prints to the driver's stdout (its raylet notices) to ``driver.log``; the actors'
output stays in Ray's session logs, linked as ``logs/ray`` (Ray's ``log_to_driver`` is off). ``--verbose``
(``$RAYRLHF_VERBOSE``) shows all of it live instead. Errors always reach the terminal: a stage that fails stops
the run with its message, and ERROR records of every library still go to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger("rayrlhf")
VERBOSE_ENV = "RAYRLHF_VERBOSE"

# the actors' environments: their own warnings and errors reach their logs, the libraries' progress chatter does not
QUIET = {"VLLM_LOGGING_LEVEL": "ERROR", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
         "TRANSFORMERS_VERBOSITY": "error"}

_log_dir: Path | None = None  # the current run's logs/ while run_logs is active


def verbose() -> bool:
    """``--verbose`` (``$RAYRLHF_VERBOSE=1``): third-party output and the actors' output live on the terminal."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def worker_setup() -> None:
    """Runs in each worker process of a local Ray (``ray.init``'s ``worker_process_setup_hook``).

    - The worker names its own cluster in ``RAY_ADDRESS``: Ray Train's helpers look the cluster up through the state
      API, which, with no address, stops at "Found multiple active Ray instances" when another run or a test has
      a local Ray on the same machine.
    - Ray Train's placement-group cleaner asks the state API every few seconds whether the controller lives; a
      local Ray without its dashboard does not serve that API, so it warned on every poll (dozens of lines per
      run). Its errors stay."""
    import ray

    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)
    logging.getLogger("ray.train.v2._internal.execution.controller.placement_group_cleaner").setLevel(logging.ERROR)


def setup(level: str | None = None) -> None:
    """rayrlhf's messages at ``level`` (``$RAYRLHF_LOG_LEVEL``, default INFO) to stderr, one line each; other
    libraries' at WARNING (only their errors while a quiet run routes the rest to its logs)."""
    level = (level or os.environ.get("RAYRLHF_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(level)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:
        pass


def ray_init_options() -> dict:
    """``ray.init`` options that follow :func:`verbose`: the actors' output reaches the driver only when verbose."""
    return {"log_to_driver": verbose()}


def after_ray_init() -> None:
    """Once Ray is up, in a quiet run: Ray's own terminal handler shows only errors (the rest goes to the file), and
    Ray's session logs (the actors' output) are linked as the run's ``logs/ray``."""
    if _log_dir is None:
        return
    for h in logging.getLogger("ray").handlers:
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.stdout) and _own_or_error not in h.filters:
            h.addFilter(_own_or_error)
    try:
        import ray

        node = ray._private.worker.global_worker.node  # the local node's session: its logs/ folder
        target = Path(node.get_logs_dir_path())
    except Exception:  # a Ray client connection has no local session: nothing to link
        return
    link = _log_dir / "ray"
    with contextlib.suppress(OSError):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)


def _own_or_error(record: logging.LogRecord) -> bool:
    """What a quiet run shows on the terminal: rayrlhf's records, and every library's errors."""
    return record.name.startswith("rayrlhf") or record.levelno >= logging.ERROR


@contextlib.contextmanager
def run_logs(log_dir: Path) -> Iterator[Path]:
    """Route third-party output to ``log_dir`` (``RUN_DIR/logs``) while the block runs, unless :func:`verbose`."""
    global _log_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    if verbose():
        yield log_dir
        return
    stream = open(log_dir / "driver.log", "a", buffering=1, encoding="utf-8")  # noqa: SIM115 (closed below)
    to_file = logging.StreamHandler(stream)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    terminal = [h for h in root.handlers if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.stdout)]
    named = [logging.getLogger(n) for n in ("ray", "py.warnings")]
    for h in terminal + [h for lg in named for h in lg.handlers if isinstance(h, logging.StreamHandler)]:
        h.addFilter(_own_or_error)  # other libraries' warnings go to the file; errors still show
    for lg in (root, *named):
        lg.addHandler(to_file)
    logging.captureWarnings(True)
    _log_dir = log_dir
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(stream):
            warnings.simplefilter("default")
            yield log_dir
    finally:
        _log_dir = None
        logging.captureWarnings(False)
        for lg in (root, *named):
            lg.removeHandler(to_file)
        for h in terminal + [h for lg in named for h in lg.handlers]:
            h.removeFilter(_own_or_error)
        stream.close()


def info(message: str) -> None:
    logger.info(message)
