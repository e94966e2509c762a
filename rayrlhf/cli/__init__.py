"""``rayrlhf`` command line: ``parser.py`` builds the arguments, ``commands.py`` runs them. Config problems are
reported before anything heavy is imported."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rayrlhf.cli.commands import (
    cmd_annotate,
    cmd_compare,
    cmd_config,
    cmd_report,
    cmd_rewards,
    cmd_sweep,
    cmd_task_build,
    cmd_theory,
    cmd_train,
)
from rayrlhf.cli.parser import build_parser
from rayrlhf.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)  # overrides may follow flags: `... --json optim.beta=0.2`
    stray = [a for a in extra if a.startswith("-") or "=" not in a or not hasattr(args, "overrides")]
    if stray:
        words = [a for a in stray if not a.startswith("-")]
        hint = f" ({', '.join(map(repr, words))}: overrides are written key=value, e.g. optim.beta=0.2)" if words else ""
        parser.error(f"unrecognized arguments: {' '.join(stray)}{hint}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    config = getattr(args, "config", None)
    if config and "=" in config and not Path(config).exists():  # `train --dry-run optim.beta=0.2`: no CONFIG given
        if args.command in ("rewards", "compare"):
            parser.error(f"{config!r} is a key=value override; give the CONFIG file first: rayrlhf {args.command} ... CONFIG {config}")
        args.config, args.overrides = None, [config, *args.overrides]
    from rayrlhf.core.logs import VERBOSE_ENV, setup

    if getattr(args, "verbose", False):
        os.environ[VERBOSE_ENV] = "1"
    setup()
    handlers = {
        "train": cmd_train, "compare": cmd_compare, "report": cmd_report, "sweep": cmd_sweep, "theory": cmd_theory,
        "task": cmd_task_build, "rewards": cmd_rewards, "annotate": cmd_annotate, "config": cmd_config,
    }
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(f"rayrlhf: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # DataError and source/model errors carry their own fix
        print(f"rayrlhf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file system refusal (permissions, a full disk): the message names the path
        print(f"rayrlhf {args.command}: error: {exc}", file=sys.stderr)
        return 1
