"""The watch loop's cost (issue 12): CPU seconds per wall second of a real `auditlog etl --watch` at its
default interval while events arrive at `--per-day` events/day (default 100K), target < 5% of one core.

Today's raw folder is seeded with `--seed` events first (default 50,000: the watcher at midday, when every
re-run of today reads half a day), the watcher's own first run is let finish, then for `--seconds` of wall
time one Firehose-style object lands every `--object-seconds` (the sink's 60 s buffer; per-day / 86400 x
that many events each). CPU is the watcher process's utime + stime (+ children) from /proc/<pid>/stat over
the window; the runs it made are counted from the manifests.

`python -m bench.watch_bench [--per-day 100000] [--seconds 300] [--object-seconds 60] [--seed 50000]`
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from audit_events.contract import envelope_from_entry, make_detail, make_entity
from audit_events.sink import LocalFirehoseSink
from bench import data
from bench.entity_bench import REPO
from etl.manifest import MANIFESTS_PREFIX

TARGET_CPU_SHARE = 0.05


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid` in seconds (/proc/<pid>/stat)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # fields 14-17 of the man page
    return ticks / os.sysconf("SC_CLK_TCK")


def put_events(data_dir: Path, n: int, start: int) -> None:
    """Write `n` valid change events as one raw object (or more, past the sink's record buffer) now."""
    sink = LocalFirehoseSink(data_dir, buffer_records=max(n, 1), buffer_seconds=3600)
    for i in range(start, start + n):
        sku = f"SKU-W-{i % 5000}"
        before = {"sku": sku, "on_hand": i % 97}
        entity = make_entity(sku, "Watch widget", before=before, after={**before, "on_hand": i % 97 + 1})
        detail = make_detail(
            [entity],
            entity_type="InventoryItem",
            action="Update",
            correlation_id=f"w-{i}",
            actor_name="warehouse-service",
        )
        entry = {"Source": "shop.inventory", "DetailType": "StockChanged", "Detail": json.dumps(detail)}
        sink.put(envelope_from_entry({**entry, "Time": datetime.now(UTC)}))
    sink.close()


def manifests(data_dir: Path) -> int:
    """How many run manifests the data folder holds (one per finished run)."""
    folder = data_dir / MANIFESTS_PREFIX
    return len(list(folder.glob("*.json"))) if folder.is_dir() else 0


def run(per_day: int, seconds: float, object_seconds: float, seed: int) -> dict[str, object]:
    """Seed, start the watcher, let its first run finish, then time `seconds` of arrivals."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        sent = 0
        for _ in range(0, seed, 1000):  # Firehose-sized objects, like a real morning
            put_events(data_dir, min(1000, seed - sent), sent)
            sent = min(seed, sent + 1000)
        env = {**os.environ, "PYTHONPATH": str(REPO), "AUDITLOG_DATA_DIR": str(data_dir)}
        env.pop("AUDITLOG_ETL_WATCH_INTERVAL_SECONDS", None)  # the default interval
        log = open(Path(tmp) / "watch.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditlog.cli", "etl", "--watch", "--data-dir", str(data_dir)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 600
            while manifests(data_dir) == 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the watcher's first run did not finish: {Path(tmp, 'watch.log')}")
                time.sleep(0.5)
            time.sleep(2)
            runs0, cpu0, t0 = manifests(data_dir), cpu_seconds(proc.pid), time.monotonic()
            per_object = max(1, round(per_day / 86_400 * object_seconds))
            objects = 0
            while time.monotonic() - t0 < seconds:
                put_events(data_dir, per_object, sent)
                sent += per_object
                objects += 1
                next_at = t0 + objects * object_seconds
                time.sleep(max(0.0, min(next_at, t0 + seconds) - time.monotonic()))
            cpu1, t1, runs1 = cpu_seconds(proc.pid), time.monotonic(), manifests(data_dir)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            log.close()
    share = (cpu1 - cpu0) / (t1 - t0)
    data.log(f"  watcher: {cpu1 - cpu0:.1f} CPU s over {t1 - t0:.0f} s wall, {runs1 - runs0} runs")
    return {
        "per_day": per_day,
        "seed_events": seed,
        "objects": objects,
        "events_per_object": per_object,
        "wall_s": round(t1 - t0, 1),
        "cpu_s": round(cpu1 - cpu0, 2),
        "runs": runs1 - runs0,
        "cpu_share_of_one_core": round(share, 4),
        "target": TARGET_CPU_SHARE,
        "met": share < TARGET_CPU_SHARE,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-day", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--object-seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=50_000)
    args = ap.parse_args()
    print(json.dumps(run(args.per_day, args.seconds, args.object_seconds, args.seed), indent=2))
