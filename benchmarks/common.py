"""Helpers shared by the benchmarks: timing whole processes and reading their peak memory."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

LUMEN = [sys.executable, "-m", "lumen_cli"]


def run_timed(command: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run *command*; return its wall time in seconds and its peak RSS in MiB."""
    started = time.perf_counter()
    process = subprocess.Popen(
        list(command), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports KiB


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def children_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
