"""Peak resident memory of a command and every process it starts (Ray's GCS, raylet, workers, vLLM).

    python benchmarks/peak_memory.py -- rayrlhf train examples/quickstart.yaml

Samples the whole process tree every 0.5 s and prints the peak of the summed PSS (shared pages split
among the processes that map them: the memory the tree really holds) and of the summed RSS (which counts
shared libraries once per process, so it errs high), and the exit code.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def tree_memory(root: psutil.Process) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) over the tree; PSS splits shared pages among their users."""
    rss = pss = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            info = p.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        except psutil.Error:
            pass
    return rss, pss


def main() -> int:
    cmd = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    if not cmd:
        print(__doc__)
        return 2
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    root = psutil.Process(proc.pid)
    peak_rss = peak_pss = 0
    while proc.poll() is None:
        try:
            rss, pss = tree_memory(root)
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        except psutil.Error:
            pass
        time.sleep(0.5)
    print(f"peak_pss_gib={peak_pss / 2**30:.2f} peak_rss_sum_gib={peak_rss / 2**30:.2f} "
          f"wall_s={time.perf_counter() - t0:.1f} exit={proc.returncode}", file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
