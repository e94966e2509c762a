"""The ``rayrlhf`` commands: each validates its config before anything heavy is imported, then hands over to the
package that does the work (docs/architecture.md)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rayrlhf.config import ConfigError, load_config


def _load(args) -> object:
    return load_config(args.config, args.overrides)


def _log(message: str) -> None:
    """Progress and stop messages go to stderr (stdout holds the command's result)."""
    print(message, file=sys.stderr, flush=True)


def cmd_task_build(args) -> int:
    cfg = _load(args)
    from rayrlhf.task.build import build_task

    t0 = time.perf_counter()
    task = build_task(cfg.task, force=args.force, log=_log)
    info = task.info()
    print(json.dumps({"path": str(task.root), "seconds": round(time.perf_counter() - t0, 2),
                      "build_timings": info["timings"], "policy": info["policy"], "judge_lm": info["judge_lm"]}, indent=2))
    return 0


def cmd_rewards(args) -> int:
    if args.action == "serve":
        from rayrlhf.rewards.serve import run_server

        return run_server(_load(args), args.source, args.host, args.port, args.token_env,
                          log=_log)
    return cmd_rewards_evaluate(args)


def cmd_rewards_evaluate(args) -> int:
    cfg = _load(args)
    if not cfg.sources:
        raise ConfigError("no sources configured: add a `sources:` list to the config (see examples/quickstart.yaml)")
    from rayrlhf.cli.summary import format_pilot
    from rayrlhf.labelling.pilot import label_model_pilot
    from rayrlhf.rewards.evaluate import format_table, load_pairs, score_pairs, task_pairs

    if args.pairs:
        pairs, summary = load_pairs(args.pairs, cfg.data.on_bad_row)
        info = {"pairs_file": args.pairs, "rows": summary}
    else:
        pairs, info = task_pairs(cfg, _log)
    scores, rows = score_pairs(cfg, pairs, _log)
    pilot = label_model_pilot(scores, cfg.run.seed) if args.pairs else None  # people's pairs: would a label model do?
    if args.json:
        print(json.dumps({"sample": info, "sources": rows, **({"label_model": pilot} if pilot else {})}, indent=2))
    else:
        from rayrlhf.cli.summary import reading_of_sources

        print(format_table(rows) + (format_pilot(pilot) if pilot else ""))
        print(reading_of_sources(rows) + " (--json: the table with the sample's details)")
    return 0


def cmd_train(args) -> int:
    started = time.perf_counter()
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

    def stop(message: str) -> None:
        """The stop's message as the last line: Ray forwards the actors' last output (a learner's traceback, say)
        until it shuts down, so it shuts down first."""
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            import threading

            done = threading.Thread(target=sys.modules["ray"].shutdown, daemon=True)
            done.start()
            done.join(30)  # bounded: a stop never hangs on a Ray that is itself broken
        _log(message)

    try:
        if args.resume:
            extra = [args.config, *args.overrides] if args.config else list(args.overrides)
            if any("=" not in item for item in extra):
                raise ConfigError("--resume takes the run's own config.yaml; pass no CONFIG with it (only key=value "
                                  "overrides of oracle.budget, train.iterations, run.*)")
            run_dir = args.resume
            from rayrlhf.run.entry import train

            rows = train(None, args.resume, resume=True, log=_log, overrides=extra)
        else:
            if not args.config:
                raise ConfigError("rayrlhf train needs a CONFIG (e.g. examples/quickstart.yaml) or --resume RUN_DIR")
            cfg = _load(args)
            run_dir = cfg.run.output_dir
            from rayrlhf.run.entry import train  # light: validation and preflight run before torch and Ray load

            rows = train(cfg, log=_log)
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
        _finish(run_dir, rows, time.perf_counter() - started)
    return 0


def _finish(run_dir: str, rows: list[dict], wall_s: float) -> None:
    """``RUN_DIR/report.md`` with its plots, then the run's summary; the last line names the file to open."""
    from rayrlhf.cli.summary import run_summary
    from rayrlhf.core.metrics import MetricsRow
    from rayrlhf.experiments.report import write_report

    try:
        report = str(write_report(run_dir))
    except Exception as exc:  # noqa: BLE001 - the run is done and saved; a report that cannot be written says so
        _log(f"rayrlhf train: no report.md ({exc}); `rayrlhf report {run_dir}` writes it")
        report = None
    from rayrlhf.core.run_dir import RunDir

    every = [MetricsRow.from_json(r) for r in RunDir(run_dir).metrics()] or [MetricsRow.from_json(r) for r in rows]
    print("\n".join(run_summary(every, run_dir, wall_s, report, resumed=len(every) > len(rows))))


def cmd_compare(args) -> int:
    if args.resume:
        if args.config or args.overrides or args.methods or args.seeds is not None:
            raise ConfigError("--resume takes the comparison's own config.yaml, methods and seeds; pass no CONFIG, "
                              "overrides, --methods or --seeds with it")
        from rayrlhf.experiments.compare import resume_compare

        root = resume_compare(args.resume, log=_log, max_concurrent=args.max_concurrent)
        print((root / "report.md").read_text())
        return 0
    if not args.config or not args.methods:
        raise ConfigError("rayrlhf compare needs CONFIG and --methods (e.g. examples/quickstart.yaml --methods ucb,none), "
                          "or --resume COMPARE_DIR")
    cfg = _load(args)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    twice = sorted({m for m in methods if methods.count(m) > 1})
    if not methods or twice:  # one method is a compare too: more seeds or budgets for `rayrlhf report A B --into`
        raise ConfigError(f"--methods needs one or more distinct methods (e.g. ucb,none){'; listed twice: ' + ', '.join(twice) if twice else ''}")
    from rayrlhf.experiments.compare import run_compare

    root = run_compare(cfg, methods, args.seeds or 1, log=_log,
                       max_concurrent=args.max_concurrent)
    print((root / "report.md").read_text())
    return 0


def cmd_sweep(args) -> int:
    from rayrlhf.experiments.sweep import parse_grid, run_sweep

    if args.resume:
        if args.config or args.overrides or args.grid:
            raise ConfigError("--resume takes the sweep's own config and grid; pass nothing else with it")
        root = run_sweep(None, {}, None, resume=args.resume, log=_log)
    else:
        if not args.config or not args.grid:
            raise ConfigError("rayrlhf sweep needs CONFIG and at least one --grid KEY=V1,V2 (or --resume SWEEP_DIR)")
        root = run_sweep(_load(args), parse_grid(args.grid), args.scheduler, log=_log,
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
