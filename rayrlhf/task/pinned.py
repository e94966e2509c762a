"""Build the built-in task on a pinned instruction path, so any x86-64 machine with AVX2 builds the same world.

Torch's CPU kernels (ATen), MKL's matrix products and oneDNN each pick their vector code by the CPU they run on,
and different vector widths round differently: an AVX-512 server and an AVX2 laptop train a different initial
policy from the same seed. The build therefore runs in a process started with ``PINNED_ENV``: ATen's
``ATEN_CPU_CAPABILITY``, MKL's conditional numerical reproducibility branch (``MKL_CBWR``) and oneDNN's
``ONEDNN_MAX_CPU_ISA`` all set to AVX2 (these are read when the libraries load, so they cannot be set in a process
that has already imported torch). A CPU without AVX2 builds on its own path and the build says so; its checksum
(``build.json``) then tells the world apart.

:func:`build_in_pinned_process` starts ``python -m rayrlhf.task.pinned_child CONFIG_JSON [--force]`` with that
environment and relays the build's log lines.
"""

from __future__ import annotations

import os
import subprocess
import sys

PINNED_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
PINNED_CAPABILITY = "AVX2"


def pinned_here() -> bool:
    """Whether this process was started with the pinned instruction path (its environment has ``PINNED_ENV``)."""
    return all(os.environ.get(key) == value for key, value in PINNED_ENV.items())


def cpu_capability() -> str:
    """The vector code torch's CPU kernels use in this process (``AVX2``, ``AVX512``, ``DEFAULT``, ...)."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def build_in_pinned_process(cfg_json: str, force: bool, log) -> None:
    """Build the task described by ``cfg_json`` (a ``TaskConfig`` as JSON) in a child process on the pinned path,
    passing each line it logs to ``log``; its progress bars and any traceback go to this process's stderr."""
    cmd = [sys.executable, "-m", "rayrlhf.task.pinned_child", cfg_json, *(["--force"] if force else [])]
    proc = subprocess.Popen(cmd, env={**os.environ, **PINNED_ENV}, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            log(line.rstrip("\n"))
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()
    if code != 0:
        raise RuntimeError(f"building the built-in task failed (exit {code}; its error is printed above); "
                           "fix it and rerun `rayrlhf task build CONFIG`")
