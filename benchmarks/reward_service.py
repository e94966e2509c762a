"""What scoring over HTTP costs (docs/rewards_service.md): the same source, the same batch, in-process against
served by ``rayrlhf rewards serve`` (a subprocess on a loopback port), side by side in alternating repeats.

    python -m benchmarks.reward_service [--items 256] [--repeats 5] [--sources rouge,bertscore] [--out DIR]

Prints per source the milliseconds per scored response both ways (median over repeats, with min-max), their ratio
and the overhead per response; writes OUT/reward_service.json. Each repeat scores new responses (the client's cache
never answers), the client with the source's own batch_size and endpoint defaults (4 calls in flight).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import QUICKSTART, REPO, env_for_children, git_commit, log, machine


def _serve(sources: list[str], port: int, token: str, log_path: Path) -> subprocess.Popen:
    import httpx

    cmd = [sys.executable, "-m", "rayrlhf.cli", "rewards", "serve", str(QUICKSTART), "--port", str(port)]
    for s in sources:
        cmd += ["--source", s]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_path.open("w"), cwd=REPO,
                            env={**env_for_children(), "RAYRLHF_REWARDS_TOKEN": token})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"rewards serve exited {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("rewards serve did not start within 300 s")


def _batches(items: int, repeats: int) -> list[tuple[list[str], list[str], list[str]]]:
    """``repeats`` batches of new (prompt, response, reference) triples from the built-in task's eval split."""
    from rayrlhf.config import load_config
    from rayrlhf.task.build import build_task

    split = build_task(load_config(QUICKSTART).task, log=lambda m: None).split("eval")
    prompts, refs = list(split["prompt"]), list(split["reference"])
    out = []
    for r in range(repeats):
        idx = [(r * items + i) % len(prompts) for i in range(items)]
        # each response distinct across repeats: a reference cut at a repeat-dependent length, tagged
        out.append(([prompts[i] for i in idx], [f"{refs[(i + 1) % len(refs)][: 40 + 7 * r]} v{r}" for i in idx],
                    [refs[i] for i in idx]))
    return out


def measure(source_names: list[str], items: int, repeats: int, out: Path) -> dict:
    import socket

    from rayrlhf.config import load_config
    from rayrlhf.rewards import build_source
    from rayrlhf.task.build import resolve_model

    cfg = load_config(QUICKSTART)
    served_cfg = load_config(QUICKSTART, ["run.rewards_from=http://127.0.0.1:1"])  # rewritten below per port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_urlsafe(16)
    os.environ["RAYRLHF_REWARDS_TOKEN"] = token
    proc = _serve(source_names, port, token, out / "serve.log")
    results = {}
    try:
        batches = _batches(items, repeats)
        for name in source_names:
            local_cfg = next(s for s in cfg.sources if s.name == name)
            remote_cfg = next(s for s in served_cfg.sources if s.name == name)
            remote_cfg = remote_cfg.model_copy(update={"endpoint": remote_cfg.endpoint.model_copy(
                update={"url": f"http://127.0.0.1:{port}/v1/score/{name}"})})
            local = build_source(local_cfg, lambda m: resolve_model(m, cfg.task))
            local.score(*batches[0])  # warm both: model loads, first-call costs
            build_source(remote_cfg).score(*batches[0])
            times = {"in_process": [], "served": []}
            for r, batch in enumerate(batches):
                order = [("in_process", local), ("served", build_source(remote_cfg))]  # a new client: no cache
                for side, scorer in (order if r % 2 == 0 else order[::-1]):
                    t = time.perf_counter()
                    scorer.score(*batch)
                    times[side].append(1000 * (time.perf_counter() - t) / items)
            med = {k: statistics.median(v) for k, v in times.items()}
            results[name] = {"ms_per_response": {k: {"median": med[k], "min": min(v), "max": max(v)} for k, v in times.items()},
                             "ratio_served_over_in_process": med["served"] / med["in_process"],
                             "overhead_ms_per_response": med["served"] - med["in_process"]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sources", default="rouge,bertscore")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / time.strftime("bench-rewards-%Y%m%d-%H%M%S"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = measure(args.sources.split(","), args.items, args.repeats, args.out)
    meta = {"commit": git_commit(), "items": args.items, "repeats": args.repeats, **machine()}
    (args.out / "reward_service.json").write_text(json.dumps({"meta": meta, "sources": results}, indent=1))
    log(f"{'source':<12} {'in-process ms/resp':>20} {'served ms/resp':>20} {'served/in-process':>18} {'overhead ms/resp':>17}")
    for name, r in results.items():
        a, b = r["ms_per_response"]["in_process"], r["ms_per_response"]["served"]
        log(f"{name:<12} {a['median']:>8.3f} ({a['min']:.3f}-{a['max']:.3f}) {b['median']:>8.3f} ({b['min']:.3f}-{b['max']:.3f}) "
            f"{r['ratio_served_over_in_process']:>18.2f} {r['overhead_ms_per_response']:>17.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
