"""The child process that builds the built-in task on the pinned instruction path (see :mod:`rayrlhf.task.pinned`):
``python -m rayrlhf.task.pinned_child CONFIG_JSON [--force]``, started with ``PINNED_ENV``; it prints the build's log
lines on stdout."""

from __future__ import annotations

import sys

from rayrlhf.task.pinned import PINNED_CAPABILITY, PINNED_ENV, cpu_capability, pinned_here


def main(argv: list[str]) -> int:
    """Build (or find cached) the task given as JSON, warning when this CPU cannot run the pinned path."""
    from rayrlhf.config import TaskConfig
    from rayrlhf.task.build import build_task

    if not argv or argv[0].startswith("-"):
        print("usage: python -m rayrlhf.task.pinned_child CONFIG_JSON [--force]", file=sys.stderr)
        return 2
    if not pinned_here():
        print(f"start this with the environment {PINNED_ENV}", file=sys.stderr)
        return 2
    capability = cpu_capability()
    if capability != PINNED_CAPABILITY:
        print(f"[task] this CPU runs torch's {capability} path, not {PINNED_CAPABILITY}: the world built here may "
              "differ from other machines' (compare the checksum in build.json)", flush=True)
    build_task(TaskConfig.model_validate_json(argv[0]), force="--force" in argv[1:],
               log=lambda message: print(message, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
