"""A sweep's trials each load every reward model, or share one served set (docs/rewards_service.md): a 4-trial
``rayrlhf sweep`` both ways, side by side in one run.

    python -m benchmarks.shared_rewards [--scale tiny|full] [--trials 4] [--out DIR]

``own``: ``rayrlhf sweep CONFIG --grid optim.beta=...``, every trial's reward actors load their models.
``shared``: ``rayrlhf rewards serve CONFIG`` first (its start-up timed), then the same sweep with
``run.rewards_from=<url>``: every source and the oracle are http clients, and no trial loads a reward model.
Prints per variant the wall time, the trials' mean start-up (``timing/startup_s``: the workers up, models loaded) and
the peak memory (PSS summed over the sweep's process tree and, when shared, the server's); writes
OUT/shared_rewards.json.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import QUICKSTART, REPO, bench_overrides, env_for_children, git_commit, log, machine

TOKEN_ENV = "RAYRLHF_REWARDS_TOKEN"


class TreePeak:
    """Peak of the PSS summed over the process trees of ``pids`` (added while it runs), sampled every second."""

    def __init__(self) -> None:
        self.pids, self.peak_gib = [], 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for pid in list(self.pids):
                try:
                    root = psutil.Process(pid)
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for p in procs:
                    try:
                        info = p.memory_full_info()
                        total += getattr(info, "pss", info.rss)
                    except psutil.Error:
                        pass
            self.peak_gib = max(self.peak_gib, total / 2**30)
            self._stop.wait(1.0)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(overrides: list[str], env: dict, log_path: Path) -> tuple[subprocess.Popen, str, float]:
    import httpx

    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rayrlhf.cli", "rewards", "serve", str(QUICKSTART), *overrides,
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log_path.open("w"), cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < 600:
        if proc.poll() is not None:
            raise SystemExit(f"rewards serve exited {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url, time.perf_counter() - t0
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("rewards serve did not start within 600 s")


def _sweep(overrides: list[str], betas: list[str], out: Path, env: dict, peak: TreePeak) -> dict:
    cmd = [sys.executable, "-m", "rayrlhf.cli", "sweep", str(QUICKSTART), *overrides, f"run.output_dir={out}",
           "--grid", "optim.beta=" + ",".join(betas)]
    t0 = time.perf_counter()
    with (out.parent / f"{out.name}.log").open("w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        peak.pids.append(proc.pid)
        code = proc.wait()
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"the sweep exited {code}; log {out.parent / f'{out.name}.log'}")
    startups = []
    for metrics in sorted(out.glob("runs/*/metrics.jsonl")):
        rows = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]
        startups += [r["timing/startup_s"] for r in rows if r.get("timing/startup_s")]
    return {"wall_s": wall, "trials": len(list(out.glob("runs/*/metrics.jsonl"))),
            "mean_trial_startup_s": sum(startups) / len(startups) if startups else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--out", default=str(REPO / "runs" / "bench-shared-rewards"))
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    overrides = [*bench_overrides(args.scale), "train.iterations=1"]
    betas = [f"{0.05 * 2 ** i:g}" for i in range(args.trials)]
    env = {**env_for_children(), TOKEN_ENV: secrets.token_urlsafe(24)}
    subprocess.run([sys.executable, "-m", "rayrlhf.cli", "task", "build", str(QUICKSTART), *overrides], check=True,
                   cwd=REPO, env=env, stdout=subprocess.DEVNULL)  # both variants find the task built
    result = {"machine": machine(), "commit": git_commit(), "scale": args.scale, "trials": args.trials, "betas": betas}
    with TreePeak() as peak:
        result["own"] = _sweep(overrides, betas, out / "own", env, peak)
    result["own"]["peak_pss_gib"] = peak.peak_gib
    log(f"[shared_rewards] own models: {result['own']}")
    with TreePeak() as peak:
        server, url, serve_s = _serve(overrides, env, out / "serve.log")
        peak.pids.append(server.pid)
        try:
            result["shared"] = _sweep([*overrides, f"run.rewards_from={url}", f"run.rewards_token_env={TOKEN_ENV}"],
                                      betas, out / "shared", env, peak)
        finally:
            server.terminate()
            server.wait(timeout=60)
    result["shared"].update(peak_pss_gib=peak.peak_gib, server_startup_s=serve_s)
    log(f"[shared_rewards] shared server: {result['shared']}")
    own, shared = result["own"], result["shared"]
    result["ratios"] = {k: (shared[k] / own[k] if own.get(k) and shared.get(k) else None)
                        for k in ("wall_s", "mean_trial_startup_s", "peak_pss_gib")}
    (out / "shared_rewards.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({"own": own, "shared": shared, "shared/own": result["ratios"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
