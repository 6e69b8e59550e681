"""Decompression-bomb benchmark: one raw gzip object holding 1 GiB of blank lines (about 1 MB compressed)
beside a small good object, run through the local ETL in a child process; peak RSS must stay under 1 GB.

Two runs: with the default AUDITLOG_ETL_MAX_OBJECT_BYTES (the object is quarantined as object_too_large after
its first 256 MiB) and with the bound raised to 2 GiB (the whole GiB is inflated and cut into lines; every
line is blank, so nothing is kept). Run: `python -m bench.etl_bomb` (writes bench/.cache/results-bomb.json).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import data
from bench.measure import run_child
from etl import layout

GIB = 1 << 30
_CHILD = """
import json, sys
from datetime import date
from pathlib import Path
from etl.local import run_etl
r = run_etl(Path(sys.argv[1]), date(2026, 11, 27))
print(json.dumps({"events_in": r.events_in, "events_stored": r.events_stored,
                  "objects": [o["reason"] for o in r.quarantined_objects]}))
"""


def build(folder: Path) -> Path:
    """The bomb (1 GiB of "\\n", gzip level 9, written in 16 MiB pieces) and a good object, under `folder`."""
    hour = folder / layout.raw_hour_prefix(datetime(2026, 11, 27, 5))
    hour.mkdir(parents=True, exist_ok=True)
    bomb = hour / "bomb.gz"
    if not bomb.exists():
        piece = b"\n" * (16 << 20)
        with gzip.open(bomb.with_suffix(".tmp"), "wb", compresslevel=9) as f:
            for _ in range(GIB // len(piece)):
                f.write(piece)
        bomb.with_suffix(".tmp").rename(bomb)
    event = {"id": "e1", "source": "shop.orders", "time": "2026-11-27T05:00:00Z", "detail-type": "x",
             "detail": {"event_id": "ev-1", "entities": [{"entity": {"id": "o-1"}}]}}
    (hour / "good.gz").write_bytes(gzip.compress((json.dumps(event) + "\n").encode()))
    return bomb


def run(log=data.log) -> dict[str, Any]:
    """Both runs; peak RSS (MB), wall seconds and what the run reported."""
    folder = data.CACHE / "bomb"
    bomb = build(folder)
    results: dict[str, Any] = {"bomb_gzip_bytes": bomb.stat().st_size, "bomb_decompressed_bytes": GIB}
    for name, bound in (("default_bound", None), ("bound_2GiB", str(2 * GIB))):
        for prefix in ("analytics", layout.REPORTS_PREFIX, layout.QUARANTINE_PREFIX):
            shutil.rmtree(folder / prefix, ignore_errors=True)
        env = {**os.environ}
        env.pop("AUDITLOG_ETL_MAX_OBJECT_BYTES", None)
        if bound:
            env["AUDITLOG_ETL_MAX_OBJECT_BYTES"] = bound
        child = run_child([sys.executable, "-c", _CHILD, str(folder)], env=env)
        info = json.loads(child.stdout)
        results[name] = {"seconds": round(child.seconds, 2), "peak_rss_mb": round(child.max_rss_mb), **info}
        log(f"bomb ({name}): {child.seconds:.1f} s, peak RSS {child.max_rss_mb:.0f} MB, {info}")
    return results


def main() -> int:
    """Run the bomb benchmark and write bench/.cache/results-bomb.json."""
    results = run()
    out = data.CACHE / "results-bomb.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0 if all(results[k]["peak_rss_mb"] < 1000 for k in ("default_bound", "bound_2GiB")) else 1


if __name__ == "__main__":
    sys.exit(main())
