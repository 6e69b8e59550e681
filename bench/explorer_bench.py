# ruff: noqa: S608  (the SQL here is built from this module's constants and Parquet-derived values only)
"""Explorer benchmark: p50/p95 of the explorer's queries through audit_query's public client
(AuditLogClient(DuckDBBackend(dir))) against a naive full scan of the same Parquet files (one
read_parquet over every file, the OR form, no dt predicate), plus the bytes an engine using row-group
min/max statistics must read (what Athena bills), computed from Parquet metadata with pyarrow."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from audit_query.backends.duckdb import DuckDBBackend
from audit_query.client import AuditLogClient
from audit_query.cursor import Keyset, encode_cursor
from audit_query.model import AuditLogQuery
from bench import data
from bench.measure import percentile
from etl import layout, schema

ALL_NULL = ("<all null>",)  # statistics marker: every value of the column chunk is NULL
SELECT_ALL = [c.name for c in schema.COLUMNS]  # data columns a SELECT * reads (dt/source live in the path)


@dataclass
class RowGroup:
    """One row group of one file: its partition, compressed bytes per column (a nested column's leaves
    summed under its name) and min/max per flat column."""

    dt: str
    source: str
    bytes_by_column: dict[str, int]
    stats: dict[str, tuple[Any, ...]]


def load_row_groups(data_dir: Path) -> list[RowGroup]:
    """Every row group of every Parquet file of the table, from the file footers."""
    out = []
    root = data_dir / layout.ANALYTICS_PREFIX
    for path in sorted(root.glob("dt=*/source=*/*.parquet")):
        dt = path.parent.parent.name.removeprefix("dt=")
        source = path.parent.name.removeprefix("source=")
        meta = pq.ParquetFile(path).metadata
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            sizes, stats = {}, {}
            for j in range(rg.num_columns):
                col = rg.column(j)
                # a nested column (Changes: list<struct>) is several leaf chunks, Changes.list.element.Field
                # and so on: its bytes are their sum; min/max statistics are kept for flat columns only
                top = col.path_in_schema.split(".")[0]
                sizes[top] = sizes.get(top, 0) + col.total_compressed_size
                if top != col.path_in_schema:
                    continue
                st = col.statistics
                if st is not None and st.has_min_max:
                    stats[col.path_in_schema] = (st.min, st.max)
                elif st is not None and st.has_null_count and st.null_count == rg.num_rows:
                    stats[col.path_in_schema] = ALL_NULL
            out.append(RowGroup(dt, source, sizes, stats))
    return out


def _may_equal(rg: RowGroup, column: str, value: Any) -> bool:
    """False when the row group's statistics rule out `column = value` (outside min/max, or all NULL)."""
    st = rg.stats.get(column)
    if st is ALL_NULL:
        return False
    return st is None or st[0] <= value <= st[1]


def bytes_read(groups: list[RowGroup], keep: Callable[[RowGroup], bool], columns: list[str]) -> int:
    """Compressed bytes of `columns` over the row groups `keep` says min/max statistics cannot rule out."""
    return sum(sum(rg.bytes_by_column.get(c, 0) for c in columns) for rg in groups if keep(rg))


def _timed(fn: Callable[[], Any], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _naive_table(data_dir: Path) -> str:
    glob = (data_dir / layout.ANALYTICS_PREFIX).as_posix() + "/*/*/*.parquet"
    hive = "hive_partitioning = true, hive_types = {'dt': VARCHAR, 'source': VARCHAR}"
    return f"read_parquet('{glob}', {hive})"


def _ts(d: date) -> str:
    return f"TIMESTAMP '{d.isoformat()} 00:00:00'"


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB, from /proc/self/status."""
    vals = {}
    for line in open("/proc/self/status", encoding="utf-8"):
        if line.startswith(("VmRSS:", "VmHWM:")):
            vals[line.split(":")[0]] = int(line.split()[1]) / 1024
    return vals["VmRSS"], vals["VmHWM"]


def run(days: int, data_dir: Path, *, reps: int, naive_reps: int, log=data.log) -> dict[str, Any]:
    """Time the query mix over a `days`-day table; return p50/p95 per query, naive p50, bytes fractions."""
    end = data.END_DATE
    week = (end - timedelta(days=6), end)
    span = (end - timedelta(days=days - 1), end)
    backend = DuckDBBackend(data_dir)
    client = AuditLogClient(backend)
    sources = tuple(client.sources())
    naive_con = duckdb.connect()
    table = _naive_table(data_dir)
    cols = ", ".join(f'"{c}"' for c in schema.ALL_COLUMN_NAMES)

    # Inputs picked once (not timed): entities with children and correlation ids from the last 7 days,
    # and a keyset position in the middle of the 7-day result.
    pick = duckdb.connect()
    rng = random.Random(7)
    parents = [r[0] for r in pick.execute(
        f"SELECT EntityParentId FROM {table} WHERE dt >= '{week[0]}' AND source = 'shop.orders' "
        "AND EntityParentId IS NOT NULL GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1 LIMIT 2000"
    ).fetchall()]
    corrs = [r[0] for r in pick.execute(
        f"SELECT CorrelationId FROM {table} WHERE dt >= '{week[0]}' AND source = 'shop.orders' "
        "GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1 LIMIT 2000"
    ).fetchall()]
    old_day = end - timedelta(days=min(300, days - 1))  # issue 13 item 5: a request 300 days old
    old_corrs = [r[0] for r in pick.execute(
        f"SELECT CorrelationId FROM {table} WHERE dt = '{old_day}' AND source = 'shop.orders' "
        "GROUP BY 1 HAVING count(*) >= 3 ORDER BY 1 LIMIT 2000"
    ).fetchall()]
    old_corr_ids = rng.sample(old_corrs, min(len(old_corrs), 10))
    entity_ids = rng.sample(parents, min(len(parents), 10))
    corr_ids = rng.sample(corrs, min(len(corrs), 10))
    mid = pick.execute(
        f"SELECT epoch_ms(\"Timestamp\"), Id FROM {table} WHERE dt BETWEEN '{week[0]}' AND '{week[1]}' "
        f"ORDER BY \"Timestamp\" DESC, Id DESC LIMIT 1 OFFSET (SELECT count(*) // 2 FROM {table} "
        f"WHERE dt BETWEEN '{week[0]}' AND '{week[1]}')"
    ).fetchall()[0]
    pick.close()
    search = AuditLogQuery(week[0], week[1], sources, limit=100)
    deep_position = Keyset(int(mid[0]), mid[1], "next")
    deep = replace(search, cursor=encode_cursor(deep_position, search, client.settings.cursor_secret))
    counter = {"e": 0, "c": 0, "o": 0}

    def next_of(key: str, values: list[str]) -> str:
        counter[key] += 1
        return values[counter[key] % len(values)]

    week_ts = f"\"Timestamp\" >= {_ts(week[0])} AND \"Timestamp\" < {_ts(week[1] + timedelta(days=1))}"
    src_in = ", ".join(f"'{s}'" for s in sources)
    mid_ts = f"make_timestamp_ms({int(mid[0])})"
    deep_cond = f"(\"Timestamp\" < {mid_ts} OR (\"Timestamp\" = {mid_ts} AND Id < '{mid[1]}'))"
    naive_week = f"SELECT {cols} FROM {table} WHERE {week_ts} AND source IN ({src_in})"
    order_desc = 'ORDER BY "Timestamp" DESC, Id DESC'
    queries: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "search_first_page": (
            lambda: client.query(search),
            lambda: naive_con.execute(f"{naive_week} {order_desc} LIMIT 101").fetchall(),
        ),
        "search_deep_page": (
            lambda: client.query(deep),
            lambda: naive_con.execute(f"{naive_week} AND {deep_cond} {order_desc} LIMIT 101").fetchall(),
        ),
        "entity_history_children": (
            lambda: client.history(next_of("e", entity_ids), date_from=span[0], date_to=span[1]),
            lambda: naive_con.execute(
                f"SELECT {cols} FROM {table} WHERE EntityId = $x OR EntityParentId = $x "
                f"{order_desc} LIMIT 10000",
                {"x": next_of("e", entity_ids)},
            ).fetchall(),
        ),
        "correlation": (
            lambda: client.correlation(next_of("c", corr_ids), date_from=week[0], date_to=week[1]),
            lambda: naive_con.execute(
                f"SELECT {cols} FROM {table} WHERE CorrelationId = $c ORDER BY \"Timestamp\", Id LIMIT 10000",
                {"c": next_of("c", corr_ids)}).fetchall(),
        ),
        "correlation_300_days_old": (  # no dates: the Correlation page's default, the whole history limit
            lambda: client.correlation(next_of("o", old_corr_ids)),
            lambda: naive_con.execute(
                f"SELECT {cols} FROM {table} WHERE CorrelationId = $c ORDER BY \"Timestamp\", Id LIMIT 10000",
                {"c": next_of("o", old_corr_ids)}).fetchall(),
        ),
        "activity_counts": (
            lambda: client.counts(search, ["day", "source"]),
            lambda: naive_con.execute(
                f"SELECT strftime(\"Timestamp\", '%Y-%m-%d') AS d, source, count(*) FROM {table} "
                f"WHERE {week_ts} GROUP BY ALL ORDER BY d, source").fetchall(),
        ),
    }

    log(f"explorer {days}d: reading Parquet footers for bytes-read ...")
    groups = load_row_groups(data_dir)
    total = sum(sum(rg.bytes_by_column.values()) for rg in groups)
    in_week = lambda rg: week[0].isoformat() <= rg.dt <= week[1].isoformat()  # noqa: E731
    in_span = lambda rg: span[0].isoformat() <= rg.dt <= span[1].isoformat()  # noqa: E731
    start_dt = datetime.combine(week[0], datetime.min.time())
    end_dt = datetime.combine(week[1], datetime.max.time())

    def ts_overlaps(rg: RowGroup) -> bool:
        st = rg.stats.get("Timestamp")
        return st is None or (st[0] <= end_dt and st[1] >= start_dt)

    mid_dt = datetime(1970, 1, 1) + timedelta(milliseconds=int(mid[0]))
    eid, cid, oid = entity_ids[0], corr_ids[0], old_corr_ids[0]
    family = lambda rg: _may_equal(rg, "EntityId", eid) or _may_equal(rg, "EntityParentId", eid)  # noqa: E731
    before_mid = lambda rg: rg.stats.get("Timestamp") is None or rg.stats["Timestamp"][0] <= mid_dt  # noqa: E731
    bytes_ours = {
        "search_first_page": bytes_read(groups, in_week, SELECT_ALL),
        "search_deep_page": bytes_read(groups, lambda rg: in_week(rg) and before_mid(rg), SELECT_ALL),
        "entity_history_children": bytes_read(groups, lambda rg: in_span(rg) and family(rg), SELECT_ALL),
        "correlation": bytes_read(groups, lambda rg: in_week(rg) and _may_equal(rg, "CorrelationId", cid),
                                  SELECT_ALL),
        "correlation_300_days_old": bytes_read(  # the run index names the partitions; stats prune inside
            groups, lambda rg: rg.dt == old_day.isoformat() and _may_equal(rg, "CorrelationId", oid),
            SELECT_ALL,
        ),
        "activity_counts": 0,  # dt and source are partition values; COUNT(*) reads no column chunk
    }
    bytes_naive = {
        "search_first_page": bytes_read(groups, ts_overlaps, SELECT_ALL),
        "search_deep_page": bytes_read(groups, lambda rg: ts_overlaps(rg) and before_mid(rg), SELECT_ALL),
        "entity_history_children": bytes_read(groups, family, SELECT_ALL),
        "correlation": bytes_read(groups, lambda rg: _may_equal(rg, "CorrelationId", cid), SELECT_ALL),
        "correlation_300_days_old": bytes_read(
            groups, lambda rg: _may_equal(rg, "CorrelationId", oid), SELECT_ALL
        ),
        "activity_counts": bytes_read(groups, ts_overlaps, ["Timestamp"]),
    }
    results: dict[str, Any] = {
        "days": days, "rows": None, "table_bytes": total,
        "partitions": len({(rg.dt, rg.source) for rg in groups}),
        "files": sum(1 for _ in (data_dir / layout.ANALYTICS_PREFIX).glob("dt=*/source=*/*.parquet")),
        "row_groups": len(groups), "queries": {},
    }
    for name, (ours, naive) in queries.items():
        ours()  # warm: first footer reads, plan caches
        t_ours = _timed(ours, reps)
        t_naive = _timed(naive, naive_reps)
        q = {
            "ours_p50_ms": round(percentile(t_ours, 50), 1),
            "ours_p95_ms": round(percentile(t_ours, 95), 1),
            "naive_p50_ms": round(percentile(t_naive, 50), 1),
            "naive_p95_ms": round(percentile(t_naive, 95), 1),
            "speedup_p50": round(percentile(t_naive, 50) / percentile(t_ours, 50), 1),
            "bytes_ours_pct": round(100 * bytes_ours[name] / total, 3),
            "bytes_naive_pct": round(100 * bytes_naive[name] / total, 3),
        }
        results["queries"][name] = q
        log(f"explorer {days}d {name}: ours p50 {q['ours_p50_ms']} ms p95 {q['ours_p95_ms']} ms | naive p50 "
            f"{q['naive_p50_ms']} ms ({q['speedup_p50']}x) | bytes {q['bytes_ours_pct']}% vs "
            f"{q['bytes_naive_pct']}%")
    results["rows"] = naive_con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    naive_con.close()
    results["process_rss_mb"], results["process_peak_rss_mb"] = (round(x) for x in rss_mb())
    client.close()
    return results
