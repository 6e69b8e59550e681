"""A/B of an exact actor over 90 days (issue 13: "an actor over 90 days") in one process: the DuckDB backend
as it is (a Bloom filter of each data file's ActorName, keyfilter.py) against the same backend with the actor
filters switched off (every file of the range read), alternated page by page over one table, for a rare actor
(a customer, about one row a week: fewer rows than a page, so every day is read) and a busy one.
`python -m bench.actor_ab [DATA_DIR] [PAGES]` (default: the cached 365-day table at 10K events a day, 20
pages each)."""

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
from audit_query.model import AuditLogQuery
from bench import data
from bench.explorer_bench import BUSY_ACTOR


def run(data_dir: Path, pages: int) -> dict[str, object]:
    """p50/p95 (ms) of `client.query` of an exact actor over 90 days, before and after, per actor kind."""
    start, end = data.END_DATE - timedelta(days=89), data.END_DATE
    glob = f"{data_dir}/analytics/auditlog/*/*/*.parquet"
    found = duckdb.execute(
        "SELECT ActorName FROM read_parquet($g, hive_partitioning = true, hive_types = {'dt': VARCHAR}) "
        "WHERE dt >= $d AND ActorName LIKE '%@example.org' GROUP BY 1 "
        "HAVING count(*) BETWEEN 5 AND 30 AND count(DISTINCT dt) >= 5 ORDER BY 1 LIMIT 2000",
        {"g": glob, "d": start.isoformat()},
    ).fetchall()
    rare = random.Random(7).sample([r[0] for r in found], min(len(found), 10))
    after, before = DuckDBBackend(data_dir), DuckDBBackend(data_dir)
    before._actor_filters.may_hold = lambda paths, key: paths  # type: ignore[method-assign]
    started = time.perf_counter()
    built = after.warm_actor_filters(data.END_DATE - timedelta(days=364), end)
    build_s = round(time.perf_counter() - started, 1)
    clients = {"before": AuditLogClient(before), "after": AuditLogClient(after)}
    sources = tuple(clients["after"].sources())
    out: dict[str, object] = {"actor_filters_built": built, "build_seconds": build_s}
    for kind, actors in (("rare", rare), ("busy", [BUSY_ACTOR])):
        times: dict[str, list[float]] = {"before": [], "after": []}
        for client in clients.values():
            client.query(AuditLogQuery(start, end, sources, actor_name=actors[0]))  # warm
        for i in range(pages):
            q = AuditLogQuery(start, end, sources, actor_name=actors[i % len(actors)])
            rows = {}
            for name in ("before", "after") if i % 2 == 0 else ("after", "before"):
                t0 = time.perf_counter()
                rows[name] = [r.Id for r in clients[name].query(q).rows]
                times[name].append((time.perf_counter() - t0) * 1000)
            assert rows["before"] == rows["after"], "both give the same page"
        for name, values in times.items():
            values.sort()
            out[f"{kind}_{name}_p50_ms"] = round(statistics.median(values), 1)
            out[f"{kind}_{name}_p95_ms"] = round(values[int(0.95 * (len(values) - 1))], 1)
        out[f"{kind}_ratio_p50"] = round(
            float(out[f"{kind}_after_p50_ms"]) / float(out[f"{kind}_before_p50_ms"]), 2  # type: ignore[arg-type]
        )
    for backend in (after, before):
        backend.close()
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else data.table(365, 10_000)
    print(os.getloadavg(), run(folder, int(sys.argv[2]) if len(sys.argv) > 2 else 20), os.getloadavg())
