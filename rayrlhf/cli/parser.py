"""The ``rayrlhf`` argument parser: every command, its flags and their help (``rayrlhf COMMAND --help``)."""

from __future__ import annotations

import argparse
import math


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
    _config_args(cmp_, required=False)
    cmp_.add_argument("--resume", metavar="COMPARE_DIR", help="continue a comparison that stopped: finished runs kept, "
                      "begun ones resumed from their checkpoints (no label paid twice), the rest started; takes the "
                      "comparison's own config and methods")
    cmp_.add_argument("--methods",
                      help="comma-separated methods MODE[+OPTION...][[KEY=VALUE]...][@M], e.g. ucb,none,none@2,"
                      "fixed:judge_lm,ucb+uncertain,'ucb+uncertain[optim.replay=all]': MODE a transfer.mode; OPTION "
                      "random|disagreement (oracle.query_selection), implied|ranking|listwise (transfer.pairs), "
                      "uncertain|route_random (oracle.route: model labels where people do not label), ensemble "
                      "(transfer.ensemble); [KEY=VALUE] any other config key for that method alone (quote it in a "
                      "shell); @M: M times the human labels")
    cmp_.add_argument("--seeds", type=_positive_int, help="seeds per method (run.seed, run.seed+1, ...; default 1)")
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
