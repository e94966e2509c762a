"""``rayrlhf`` command line. Config problems are reported before anything heavy is imported."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from rayrlhf.config import ConfigError, load_config


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        if not text.strip().isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number, {minimum} or more")
        return int(text)

    return parse


_positive_int = _int_at_least(1)


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number, 0 or more")
    return value


def _config_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("config", nargs=None if required else "?", help="YAML config, e.g. examples/quickstart.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. optim.beta=0.2")


def _verbose_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true", help="show third-party warnings and the actors' output live "
                   "(by default they go to RUN_DIR/logs/; errors always show)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rayrlhf", description="Online RLHF with imperfect reward models (empirical TPO) on Ray.")
    from rayrlhf import __version__

    parser.add_argument("--version", action="version", version=f"rayrlhf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for add in (_add_task_and_rewards, _add_runs, _add_theory, _add_report_and_config):
        add(sub)
    from rayrlhf.annotate.commands import add_annotate_parser

    add_annotate_parser(sub)
    return parser


def _add_task_and_rewards(sub) -> None:
    """``rayrlhf task build`` and ``rayrlhf rewards evaluate``."""
    task = sub.add_parser("task", help="the built-in summarisation task").add_subparsers(dest="action", required=True, metavar="ACTION")
    build = task.add_parser("build", help="build (or load from cache) the built-in task: data, initial policy, judge LM")
    _config_args(build, required=False)
    build.add_argument("--force", action="store_true", help="rebuild even if cached")

    rewards = sub.add_parser("rewards", help="source reward models").add_subparsers(dest="action", required=True, metavar="ACTION")
    ev = rewards.add_parser(
        "evaluate", help="agreement of each configured source with human/oracle labels",
        description="Score labelled pairs with every configured source and print agreement, its 95%% CI and "
        "the tie rate. Without --pairs, pairs are sampled from the built-in task's initial policy and "
        "labelled by its oracle.",
    )
    _config_args(ev)
    ev.add_argument("--pairs", help='jsonl of {"prompt"?, "chosen", "rejected"} rows (HH-RLHF dialogues work too)')
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    srv = rewards.add_parser("serve", help="serve configured sources over HTTP (docs/rewards_service.md)",
                             description="Serve the config's sources (and its oracle's reward as `oracle`) at "
                             "POST /v1/score/<name>, bound to --host with a bearer token (from --token-env, else a new "
                             "one printed once). Runs point `kind: http` sources (or --rewards-from) at it.")
    _config_args(srv)
    srv.add_argument("--source", action="append", metavar="NAME", help="serve only this source (repeatable; default: all)")
    srv.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=_int_at_least(1), default=8700, help="port (default 8700)")
    srv.add_argument("--token-env", default="RAYRLHF_REWARDS_TOKEN", metavar="VAR",
                     help="environment variable holding the token (default RAYRLHF_REWARDS_TOKEN)")


def _add_runs(sub) -> None:
    """``rayrlhf train``, ``compare`` and ``sweep``: the commands that run the pipeline."""
    tr = sub.add_parser("train", help="run empirical TPO on Ray (vLLM rollouts, reward actors, coordinator, Ray Train)",
                        description="Run online RLHF with transfer from the configured sources; writes RUN_DIR "
                        "(run.output_dir): config.yaml, metrics.jsonl, annotations.jsonl, checkpoints/, tb/.")
    _config_args(tr, required=False)
    tr.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last complete iteration")
    tr.add_argument("--dry-run", action="store_true", help="validate, print the plan and the resources; load nothing")
    _verbose_arg(tr)

    cmp_ = sub.add_parser("compare", help="run transfer methods over seeds with the same label budget; write the report",
                          description="Train once per method and seed (sharing the task, the workers and the "
                          "evaluation prompts), judge the policies head to head with the oracle, and write "
                          "RUN_DIR/report.md, report.csv, report.json and plots.")
    _config_args(cmp_)
    cmp_.add_argument("--methods", required=True,
                      help="comma-separated methods MODE[+OPTION...][[KEY=VALUE]...][@M], e.g. ucb,none,none@2,"
                      "fixed:judge_lm,ucb+uncertain,'ucb+uncertain[optim.replay=all]': MODE a transfer.mode; OPTION "
                      "random|disagreement (oracle.query_selection), implied|ranking (transfer.pairs), "
                      "uncertain|route_random (oracle.route: model labels where people do not label), ensemble "
                      "(transfer.ensemble); [KEY=VALUE] any other config key for that method alone (quote it in a "
                      "shell); @M: M times the human labels")
    cmp_.add_argument("--seeds", type=_positive_int, default=1, help="seeds per method (run.seed, run.seed+1, ...)")
    cmp_.add_argument("--max-concurrent", type=_positive_int, metavar="N",
                      help="runs at once, each with its own workers (default: as many as the cluster's CPUs fit)")
    _verbose_arg(cmp_)

    sw = sub.add_parser("sweep", help="grid sweep over config keys with Ray Tune (one trial = one pipeline run)",
                        description="Run one pipeline per grid point as Ray Tune trials, at most as many at once as "
                        "the cluster's CPUs fit; write SWEEP_DIR/sweep.md, sweep.csv and sweep.png.")
    _config_args(sw, required=False)
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", help="e.g. optim.beta=0.05,0.1,0.3 (repeatable)")
    sw.add_argument("--scheduler", choices=["asha"], help="stop hopeless trials after an iteration")
    sw.add_argument("--resume", metavar="SWEEP_DIR", help="restore an interrupted sweep")
    sw.add_argument("--max-concurrent", type=_positive_int, metavar="N",
                    help="trials at once (default: as many as the cluster's CPUs fit now; on an autoscaling cluster "
                         "set it to what the largest cluster fits, and the autoscaler adds nodes for them)")


def _delays(text: str) -> tuple:
    delays = tuple(int(d) if d in ("0", "1") else d for d in text.split(","))
    bad = [d for d in delays if d not in (0, 1, "iteration")]
    if bad or not delays:
        raise argparse.ArgumentTypeError(f"each delay must be 0, 1 or iteration, got {text!r}")
    return delays


def _add_theory(sub) -> None:
    """``rayrlhf theory lemma | regret``."""
    th = sub.add_parser("theory", help="exact TPO in tabular contextual bandits").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    lem = th.add_parser("lemma", help="check Lemma 3.1 on random instances; the beta -> 0 counterexample")
    lem.add_argument("--instances", type=_positive_int, default=10000)
    lem.add_argument("--json", action="store_true")
    reg = th.add_parser("regret", help="regret curves: online learning, TPO, empirical TPO, pure exploitation")
    reg.add_argument("--json", action="store_true")
    reg.add_argument("--plot", metavar="DIR", help="write regret_<scenario>.png there")
    reg.add_argument("--seeds", type=_positive_int, default=5)
    reg.add_argument("--T", type=_int_at_least(2), default=2000, help="labels per run")
    reg.add_argument("--width-c", type=_nonnegative_float, default=1.0,
                     help="the online learner's exploration bonus c/sqrt(1+N(s,a)) (also TPO's with --selection count)")
    reg.add_argument("--selection", choices=["fisher", "count"], default="fisher",
                     help="TPO's transfer-selection widths: the MLE's standard errors (default) or count-based")
    reg.add_argument("--delay", default="0", type=_delays, metavar="D[,D...]",
                     help="empirical TPO's feedback delays to compare on the same instances: 0 (every earlier round), 1 "
                     "(all but the previous round), iteration (the iterations before only); e.g. 0,1,iteration")


def _add_report_and_config(sub) -> None:
    """``rayrlhf report`` and ``rayrlhf config show``."""
    rep = sub.add_parser("report", help="regenerate RUN_DIR/report.md and plots from a train or compare run")
    rep.add_argument("run_dir", metavar="RUN_DIR")
    rep.add_argument("more", nargs="*", metavar="COMPARE_DIR", help="more compare runs to report with RUN_DIR (other "
                     "seeds or methods), into --into")
    rep.add_argument("--into", metavar="DIR", help="with COMPARE_DIRs: the directory the joint report is written to")

    conf = sub.add_parser("config", help="the configuration reference").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    show = conf.add_parser("show", help="print a resolved config (or the defaults) with every key's description",
                           description="Print CONFIG with its overrides applied, as YAML with each key's description "
                           "as a comment (it loads like the original), or the defaults with --defaults. "
                           "--format markdown prints the reference table of every key (docs/config.md).")
    _config_args(show, required=False)
    show.add_argument("--defaults", action="store_true", help="the defaults instead of a CONFIG")
    show.add_argument("--format", choices=["yaml", "markdown"], default="yaml",
                      help="yaml (default): the config with comments; markdown: the reference table (with --defaults)")


def _load(args) -> object:
    return load_config(args.config, args.overrides)


def cmd_task_build(args) -> int:
    cfg = _load(args)
    from rayrlhf.task.build import build_task

    t0 = time.perf_counter()
    task = build_task(cfg.task, force=args.force, log=lambda m: print(m, file=sys.stderr))
    info = task.info()
    print(json.dumps({"path": str(task.root), "seconds": round(time.perf_counter() - t0, 2),
                      "build_timings": info["timings"], "policy": info["policy"], "judge_lm": info["judge_lm"]}, indent=2))
    return 0


def cmd_rewards(args) -> int:
    if args.action == "serve":
        from rayrlhf.rewards.serve import run_server

        return run_server(_load(args), args.source, args.host, args.port, args.token_env,
                          log=lambda m: print(m, file=sys.stderr, flush=True))
    return cmd_rewards_evaluate(args)


def cmd_rewards_evaluate(args) -> int:
    cfg = _load(args)
    if not cfg.sources:
        raise ConfigError("no sources configured: add a `sources:` list to the config (see examples/quickstart.yaml)")
    from rayrlhf.rewards.evaluate import evaluate_sources, format_table, load_pairs, task_pairs

    def log(msg: str) -> None:
        print(msg, file=sys.stderr)

    if args.pairs:
        pairs, summary = load_pairs(args.pairs, cfg.data.on_bad_row)
        info = {"pairs_file": args.pairs, "rows": summary}
    else:
        pairs, info = task_pairs(cfg, log)
    rows = evaluate_sources(cfg, pairs, log)
    if args.json:
        print(json.dumps({"sample": info, "sources": rows}, indent=2))
    else:
        print(json.dumps(info, indent=2))
        print(format_table(rows))
    return 0


def cmd_train(args) -> int:
    if args.dry_run:
        from rayrlhf.run.plan import dry_run

        if args.resume and (args.config or args.overrides):
            raise ConfigError("--resume takes the run's own config.yaml; pass no CONFIG or overrides with it")
        if args.resume and not (Path(args.resume) / "config.yaml").is_file():
            raise ConfigError(f"--resume {args.resume}: no config.yaml there; is it a rayrlhf run directory?")
        cfg = load_config(Path(args.resume) / "config.yaml") if args.resume else _load(args)
        print(dry_run(cfg, args.resume))
        return 0
    from rayrlhf.core.faults import RunStopped, StageError

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    def stop(message: str) -> None:
        """The stop's message as the last line: Ray forwards the actors' last output (a learner's traceback, say)
        until it shuts down, so it shuts down first."""
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            import threading

            done = threading.Thread(target=sys.modules["ray"].shutdown, daemon=True)
            done.start()
            done.join(30)  # bounded: a stop never hangs on a Ray that is itself broken
        log(message)

    try:
        if args.resume:
            extra = [args.config, *args.overrides] if args.config else list(args.overrides)
            if any("=" not in item for item in extra):
                raise ConfigError("--resume takes the run's own config.yaml; pass no CONFIG with it (only key=value "
                                  "overrides of oracle.budget, train.iterations, run.*)")
            run_dir = args.resume
            from rayrlhf.run.entry import train

            rows = train(None, args.resume, resume=True, log=log, overrides=extra)
        else:
            if not args.config:
                raise ConfigError("rayrlhf train needs a CONFIG (e.g. examples/quickstart.yaml) or --resume RUN_DIR")
            cfg = _load(args)
            run_dir = cfg.run.output_dir
            from rayrlhf.run.entry import train  # light: validation and preflight run before torch and Ray load

            rows = train(cfg, log=log)
    except StageError as exc:
        stop(f"rayrlhf train: {exc}\nNothing paid for is lost; fix the cause, then continue with "
             f"`rayrlhf train --resume {run_dir}`")
        return 1
    except RunStopped as exc:
        more = " oracle.budget=<more>" if "oracle.budget" in str(exc) else ""
        hint = "" if "--resume" in str(exc) else f". Continue with `rayrlhf train --resume {run_dir}{more}`"
        stop(f"rayrlhf train: {exc}{hint}")
        return exc.exit_code
    if rows:
        last = rows[-1]
        print(json.dumps({k: last[k] for k in last if k == "iteration" or k.startswith(("eval/", "oracle"))}, indent=2))
    return 0


def cmd_compare(args) -> int:
    cfg = _load(args)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    twice = sorted({m for m in methods if methods.count(m) > 1})
    if not methods or twice:  # one method is a compare too: more seeds or budgets for `rayrlhf report A B --into`
        raise ConfigError(f"--methods needs one or more distinct methods (e.g. ucb,none){'; listed twice: ' + ', '.join(twice) if twice else ''}")
    from rayrlhf.experiments.compare import run_compare

    root = run_compare(cfg, methods, args.seeds, log=lambda m: print(m, file=sys.stderr),
                       max_concurrent=args.max_concurrent)
    print((root / "report.md").read_text())
    return 0


def cmd_sweep(args) -> int:
    from rayrlhf.experiments.sweep import parse_grid, run_sweep

    if args.resume:
        if args.config or args.overrides or args.grid:
            raise ConfigError("--resume takes the sweep's own config and grid; pass nothing else with it")
        root = run_sweep(None, {}, None, resume=args.resume, log=lambda m: print(m, file=sys.stderr))
    else:
        if not args.config or not args.grid:
            raise ConfigError("rayrlhf sweep needs CONFIG and at least one --grid KEY=V1,V2 (or --resume SWEEP_DIR)")
        root = run_sweep(_load(args), parse_grid(args.grid), args.scheduler, log=lambda m: print(m, file=sys.stderr),
                         max_concurrent=args.max_concurrent)
    print((root / "sweep.md").read_text())
    return 0


def cmd_theory(args) -> int:
    from rayrlhf.theory.cli import lemma_command, regret_command

    if args.action == "lemma":
        print(lemma_command(args.instances, args.json))
    else:
        print(regret_command(args.json, args.plot, args.seeds, args.T, args.width_c, args.selection, args.delay))
    return 0


def cmd_report(args) -> int:
    from rayrlhf.experiments.report import write_report
    from rayrlhf.run.preflight import check_run_dir

    if bool(args.more) != bool(args.into):
        raise ConfigError("rayrlhf report: give both more COMPARE_DIRs and --into DIR, or neither")
    for d in [args.run_dir, *args.more]:
        check_run_dir(d)  # a missing or empty directory is named, and nothing is written
    if args.more:
        from rayrlhf.experiments.compare import join_compares

        args.run_dir = join_compares([args.run_dir, *args.more], args.into)
    print(write_report(args.run_dir).read_text())
    return 0


def cmd_config(args) -> int:
    from rayrlhf.config.reference import commented_yaml, markdown_reference

    if bool(args.config) == args.defaults:
        raise ConfigError("rayrlhf config show takes a CONFIG (e.g. examples/quickstart.yaml) or --defaults, "
                          f"{'not both' if args.defaults else 'and got neither'}")
    if args.format == "markdown":
        if args.config or args.overrides:
            raise ConfigError("--format markdown prints the reference of every key with its default; run it as "
                              "`rayrlhf config show --defaults --format markdown` (no CONFIG, no overrides)")
        print(markdown_reference(), end="")
        return 0
    cfg = _load(args)
    origin = " + ".join([args.config or "defaults", *args.overrides])
    print(commented_yaml(cfg, origin), end="")
    return 0


def cmd_annotate(args) -> int:
    from rayrlhf.annotate.commands import cmd_annotate as run

    return run(args)


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


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
