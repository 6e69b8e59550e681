"""A/B of the 300-day-old correlation lookup (issue 13 item 5) in one process: the DuckDB backend as it is
(index key filters, reused partition listings) against the same backend with both switched off, alternated
lookup by lookup over one table. `python -m bench.correlation_ab [DATA_DIR] [LOOKUPS]` (default: the cached
365-day table at 10K events a day, 40 lookups each)."""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb

from audit_query.backends.duckdb import DuckDBBackend
from audit_query.client import AuditLogClient
from bench import data


def _listed_afresh(folder: str) -> list[str] | None:
    """DuckDBBackend._folder_files without the reuse: what every lookup did before."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return sorted(os.path.join(folder, n) for n in names if n.endswith(".parquet"))


def run(data_dir: Path, lookups: int) -> dict[str, float]:
    """p50/p95 (ms) of `client.correlation(id)` without dates, before and after, and their p50 ratio."""
    old_day = data.END_DATE - timedelta(days=300)
    folder = data_dir / "analytics" / "auditlog" / f"dt={old_day}" / "source=shop.orders"
    found = duckdb.execute(
        "SELECT CorrelationId FROM read_parquet($f) GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1 LIMIT 2000",
        {"f": f"{folder}/*.parquet"},
    ).fetchall()
    ids = random.Random(7).sample([r[0] for r in found], min(len(found), 10))
    after, before = DuckDBBackend(data_dir), DuckDBBackend(data_dir)
    before._key_filters.may_hold = lambda paths, key: paths  # type: ignore[method-assign]
    before._folder_files = _listed_afresh  # type: ignore[method-assign]
    clients = {"before": AuditLogClient(before), "after": AuditLogClient(after)}
    after.warm_index_filters()
    times: dict[str, list[float]] = {"before": [], "after": []}
    rows: dict[str, list[list[str]]] = {"before": [], "after": []}
    for client in clients.values():
        client.correlation(ids[0])  # warm
    for i in range(lookups):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        for name in order:
            started = time.perf_counter()
            got = clients[name].correlation(ids[i % len(ids)])
            times[name].append((time.perf_counter() - started) * 1000)
            rows[name].append(sorted(r.Id for r in got))
    assert rows["before"] == rows["after"], "both give the same rows"
    out: dict[str, float] = {}
    for name, values in times.items():
        values.sort()
        out[f"{name}_p50_ms"] = round(statistics.median(values), 1)
        out[f"{name}_p95_ms"] = round(values[int(0.95 * (len(values) - 1))], 1)
    out["ratio_p50"] = round(out["after_p50_ms"] / out["before_p50_ms"], 2)
    for backend in (after, before):
        backend.close()
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else data.table(365, 10_000)
    print(os.getloadavg(), run(folder, int(sys.argv[2]) if len(sys.argv) > 2 else 40), os.getloadavg())
