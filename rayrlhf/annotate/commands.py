"""The ``rayrlhf annotate`` command group: serve, token, export, import, pilot, pairs, audit (docs/annotate.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rayrlhf.annotate.errors import AnnotateError


def add_annotate_parser(sub) -> None:
    ann = sub.add_parser("annotate", help="people label queries: web app, tokens, vendor export/import, pilot, pairs, audit",
                         description="Human annotation for rayrlhf runs (oracle.backend: web or vendor). See docs/annotate.md.")
    act = ann.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = act.add_parser("serve", help="serve the annotation web app for RUN_DIR's queue")
    s.add_argument("run_dir", metavar="RUN_DIR")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8765)
    t = act.add_parser("token", help="create (or replace) an annotator's token; prints it once, stores only its hash")
    t.add_argument("run_dir", metavar="RUN_DIR")
    t.add_argument("--annotator", required=True, metavar="NAME")
    t.add_argument("--url", default="http://127.0.0.1:8765", help="base URL to print the annotator's link with")
    e = act.add_parser("export", help="write the pending queries for a labelling vendor")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--format", choices=["jsonl", "label-studio", "argilla"], default="jsonl")
    e.add_argument("--out", metavar="FILE", help="default RUN_DIR/export/pending.<jsonl|json>")
    i = act.add_parser("import", help="check a vendor's label file and append its labels to the ledger (all or nothing)")
    i.add_argument("run_dir", metavar="RUN_DIR")
    i.add_argument("file", metavar="FILE", help="JSONL rows, a Label Studio JSON export or flattened Argilla records")
    p = act.add_parser("pilot", help="sample K responses for N prompts from the policy and queue them for people")
    p.add_argument("config", help="YAML config (data, policy, rollout and oracle sections are used)")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    p.add_argument("--out", required=True, metavar="DIR", help="pilot directory (holds the queue)")
    p.add_argument("--prompts", type=int, default=200, help="how many prompts (100-300 is typical)")
    p.add_argument("--responses", type=int, default=None, help="K (default train.responses_per_prompt)")
    pr = act.add_parser("pairs", help="answered queries -> a pairs file for `rayrlhf rewards evaluate --pairs`")
    pr.add_argument("dir", metavar="DIR", help="a pilot or run directory")
    pr.add_argument("--out", required=True, metavar="FILE")
    a = act.add_parser("audit", help="every label with annotator, seconds, time and cost (CSV or JSONL), and a summary")
    a.add_argument("run_dir", metavar="RUN_DIR")
    a.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    a.add_argument("--out", metavar="FILE", help="default RUN_DIR/annotation_audit.<csv|jsonl>")
    a.add_argument("--cost-per-label", type=float, default=None, help="default: oracle.cost_per_label of RUN_DIR/config.yaml")


def _cost_per_label(run_dir: Path, given: float | None) -> float:
    if given is not None:
        return given
    cfg = run_dir / "config.yaml"
    if cfg.is_file():
        import yaml

        return float(((yaml.safe_load(cfg.read_text()) or {}).get("oracle") or {}).get("cost_per_label", 0.0) or 0.0)
    return 0.0


def _run(args) -> dict | None:
    from rayrlhf.annotate.store import QueueStore

    if args.action == "serve":
        from rayrlhf.annotate.server import serve

        QueueStore.existing(args.run_dir)
        print(f"serving {args.run_dir} on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
        serve(args.run_dir, args.host, args.port)
        return None
    if args.action == "token":
        token = QueueStore.for_run(args.run_dir).issue_token(args.annotator)
        return {"annotator": args.annotator, "token": token, "link": f"{args.url.rstrip('/')}/?token={token}",
                "note": "shown once; only its hash is stored. Run this again to replace it."}
    if args.action == "export":
        from rayrlhf.annotate.vendor import export_pending

        out = Path(args.out or Path(args.run_dir) / "export" / f"pending.{'jsonl' if args.format == 'jsonl' else 'json'}")
        n, files = export_pending(QueueStore.existing(args.run_dir), args.format, out)
        return {"pending": n, "files": [str(f) for f in files]}
    if args.action == "import":
        from rayrlhf.annotate.importer import import_labels

        return import_labels(args.run_dir, args.file)
    if args.action == "pilot":
        from rayrlhf.annotate.pilot import make_pilot
        from rayrlhf.config import load_config

        cfg = load_config(args.config, args.overrides)
        k = args.responses or cfg.train.responses_per_prompt
        if args.prompts < 1 or k < 2:
            raise AnnotateError("--prompts must be 1 or more and --responses 2 or more")
        return make_pilot(cfg, args.out, args.prompts, k, log=lambda m: print(m, file=sys.stderr))
    if args.action == "pairs":
        from rayrlhf.annotate.records import write_pairs

        return {"pairs": write_pairs(QueueStore.existing(args.dir), Path(args.out)), "file": args.out}
    from rayrlhf.annotate.records import audit_rows, summary, write_audit

    run_dir = Path(args.run_dir)
    cost = _cost_per_label(run_dir, args.cost_per_label)
    rows = audit_rows(run_dir, cost)
    if not rows:
        raise AnnotateError(f"{run_dir}: no annotations yet (no queue answers and no annotations.jsonl)")
    out = Path(args.out or run_dir / f"annotation_audit.{args.format}")
    write_audit(rows, out, args.format)
    store_path = run_dir / "annotation_queue.sqlite"
    return {"rows": len(rows), "file": str(out), **(summary(QueueStore(store_path), cost) if store_path.is_file() else {})}


def cmd_annotate(args: argparse.Namespace) -> int:
    try:
        result = _run(args)
    except AnnotateError as exc:
        print(f"rayrlhf annotate {args.action}: error: {exc}", file=sys.stderr)
        return 2
    if result is not None:
        print(json.dumps(result, indent=2))
    return 0
