"""`python -m bench.verify_bench [--days N] [--events-per-day N] [--reps N]`: verify vs `sha256sum`.

The data folder: demo raw objects (audit_events.demo.generate_demo, seed 0) run through the local ETL, which
writes the signed manifests (signing key in the cache folder), cached in bench/.cache/verify-<days>d-<n>/.
The baseline is `sha256sum` (GNU coreutils, one process) over exactly the files verify hashes (every input and
output the newest manifest of each run lists), with the page cache warm for both. Runs alternate (baseline,
in-process verify_tree, the `auditlog verify` command) so a busy machine slows all three alike; medians and
ratios are printed as JSON. `cli_startup` is `auditlog verify --help` (Python start and imports: a fixed cost
per call, whatever the data size). Target: verify <= 1.5x sha256sum.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.data import CACHE, SEED, log
from etl import verify
from etl.local import run_all
from etl.manifest import LocalTree, latest_manifests
from etl.verify import verify_tree


def dataset(days: int, events_per_day: int) -> Path:
    """The cached data folder (raw + ETL output + manifests), built once."""
    from audit_events.demo import generate_demo

    target = CACHE / f"verify-{days}d-{events_per_day}"
    if (target / "DONE").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    data = target / "data"
    generate_demo(data, days=days, events_per_day=events_per_day, seed=SEED)
    os.environ["AUDITLOG_SIGNING_KEY"] = str(target / "signing-key.pem")
    run_all(data)
    (target / "DONE").write_text("ok\n")
    return target


def hashed_files(data: Path) -> list[str]:
    """The files verify hashes: inputs and outputs of the newest manifest of each run."""
    tree = LocalTree(data)
    newest: dict[str, str] = {}
    for key, _, run in latest_manifests(tree):
        newest[run] = key
    files: set[str] = set()
    for key in newest.values():
        body = json.loads(tree.read(key))["manifest"]
        files |= {e["key"] for e in body["inputs"] + body["outputs"]}
    return sorted(files)


def run(days: int = 7, events_per_day: int = 50_000, reps: int = 5) -> dict[str, Any]:
    """Measure and return medians (seconds), bytes, throughput and ratios."""
    target = dataset(days, events_per_day)
    data = target / "data"
    files = hashed_files(data)
    size = sum((data / f).stat().st_size for f in files)
    for f in files:  # warm the page cache
        (data / f).read_bytes()
    sha_cmd = ["sha256sum", *files]
    cli_cmd = [sys.executable, "-m", "auditlog.cli", "verify", "--data-dir", str(data)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    help_cmd = [sys.executable, "-m", "auditlog.cli", "verify", "--help"]
    names = ("sha256sum", "verify_tree", "verify_tree_1_thread", "auditlog_verify", "cli_startup")
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(sha_cmd, cwd=data, check=True, stdout=subprocess.DEVNULL)
        times["sha256sum"].append(time.perf_counter() - t)
        t = time.perf_counter()
        result = verify_tree(LocalTree(data))
        times["verify_tree"].append(time.perf_counter() - t)
        assert result.ok and result.files_checked == len(files), result.problems[:3]
        verify.HASH_THREADS, threads = 1, verify.HASH_THREADS
        t = time.perf_counter()
        verify_tree(LocalTree(data))
        times["verify_tree_1_thread"].append(time.perf_counter() - t)
        verify.HASH_THREADS = threads
        t = time.perf_counter()
        subprocess.run(cli_cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times["auditlog_verify"].append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(help_cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        times["cli_startup"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "days": days,
        "events_per_day": events_per_day,
        "files": len(files),
        "manifests": result.manifests,
        "bytes": size,
        "reps": reps,
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "all_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "MiB_per_second": {k: round(size / (1 << 20) / v, 1) for k, v in med.items() if k != "cli_startup"},
        "ratio_vs_sha256sum": {k: round(v / med["sha256sum"], 2) for k, v in med.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.verify_bench", description=__doc__)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--events-per-day", type=int, default=50_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    log(f"bench verify: {args.days} days x {args.events_per_day:,} events; cache {CACHE}")
    print(json.dumps(run(args.days, args.events_per_day, args.reps), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
