"""Peak resident memory of a command and every process it starts (Ray's GCS, raylet, workers, vLLM).

    python benchmarks/peak_memory.py -- rayrlhf train examples/quickstart.yaml

Sums RSS over the whole process tree every 0.5 s (shared pages are counted once per process, so the figure
errs high) and prints the peak and the exit code.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def tree_rss(root: psutil.Process) -> int:
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> int:
    cmd = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    if not cmd:
        print(__doc__)
        return 2
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_rss(root))
        except psutil.Error:
            pass
        time.sleep(0.5)
    print(f"peak_rss_gib={peak / 2**30:.2f} wall_s={time.perf_counter() - t0:.1f} exit={proc.returncode}", file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
