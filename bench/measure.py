"""Measuring helpers: run a child process and read its wall time and peak RSS, percentiles, machine facts."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata


@dataclass(frozen=True)
class ChildRun:
    """One child process: wall seconds, CPU seconds (user + sys) and peak resident set size in MB."""

    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    stdout: str


def run_child(
    cmd: Sequence[str], *, env: dict[str, str] | None = None, stderr_path: str | None = None
) -> ChildRun:
    """Run `cmd`, wait for it with wait4() so the rusage is this child's own; raise if it fails.

    The child's stderr goes to `stderr_path` when given (Spark is noisy), else to ours.
    """
    started = time.perf_counter()
    err = open(stderr_path, "w", encoding="utf-8") if stderr_path else None  # noqa: SIM115
    try:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=err, env=env, text=True)
    finally:
        if err is not None:
            err.close()
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        where = f"; see {stderr_path}" if stderr_path else ""
        raise RuntimeError(f"{cmd[0]} {cmd[1]} ... exited with {proc.returncode}{where}")
    return ChildRun(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    """
    data = sorted(values)
    if not data:
        raise ValueError("no values")
    k = (len(data) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def machine() -> dict[str, object]:
    """nproc, memory, CPU model, load average, versions and the date, for RESULTS.md."""
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1]) for line in open("/proc/meminfo", encoding="utf-8")
            if line.startswith("MemTotal")
        )
    except OSError:
        mem_kb = 0
    versions = {"python": platform.python_version()}
    for pkg in ("duckdb", "pyarrow", "pyspark"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024**2, 1),
        "cpu": cpu,
        "loadavg_at_start": os.getloadavg(),
        "versions": versions,
    }
