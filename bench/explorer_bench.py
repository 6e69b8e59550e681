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
from datetime import UTC, date, datetime, timedelta
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
    file: str = ""


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
            out.append(RowGroup(dt, source, sizes, stats, path.as_posix()))
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


def _alternated(
    ours: Callable[[], Any], naive: Callable[[], Any], reps: int, naive_reps: int
) -> tuple[list[float], list[float]]:
    """`reps` timed runs of `ours` with `naive_reps` timed runs of `naive` spread evenly among them."""
    every = max(1, reps // max(naive_reps, 1))
    t_ours: list[float] = []
    t_naive: list[float] = []
    for i in range(reps):
        t_ours += _timed(ours, 1)
        if i % every == every // 2 and len(t_naive) < naive_reps:
            t_naive += _timed(naive, 1)
    while len(t_naive) < naive_reps:
        t_naive += _timed(naive, 1)
    return t_ours, t_naive


_ID = schema.ALL_COLUMN_NAMES.index("Id")
BUSY_ACTOR = "alice@example.com"  # a back-office user of the demo data: ~220 rows a day at 10K events a day
BUSY_ACTOR_PART = "Alice"  # typed with a capital: contains is case-insensitive
CHECKED = ("search_first_page", "changed_field_to_value", "time_window_one_hour", "actor_contains",
           "actor_contains_rare", "actor_90_days", "actor_90_days_rare")
"""Queries whose first page is compared with the naive plan's rows (both read the same cycled input)."""


def _check_same_rows(
    name: str, pair: tuple[Callable[[], Any], Callable[[], Any]], counter: dict[str, int]
) -> None:
    """Raise unless the client's page and the naive plan give the same Ids in the same order (the naive
    plan reads one row more: the page's `limit + 1`). Cycled inputs advance once per call, so the counters
    are put back between the two calls to give both the same value."""
    saved = dict(counter)
    ours = [r.Id for r in pair[0]().rows]
    counter.update(saved)
    naive = [r[_ID] for r in pair[1]()][: len(ours)]
    if ours != naive:
        raise AssertionError(f"{name}: the client's page and the naive plan differ ({len(ours)} rows)")


def _naive_table(data_dir: Path, options: str = "") -> str:
    glob = (data_dir / layout.ANALYTICS_PREFIX).as_posix() + "/*/*/*.parquet"
    hive = "hive_partitioning = true, hive_types = {'dt': VARCHAR, 'source': VARCHAR}"
    return f"read_parquet('{glob}', {hive}{options})"


def _ts(d: date) -> str:
    return f"TIMESTAMP '{d.isoformat()} 00:00:00'"


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB, from /proc/self/status."""
    vals = {}
    for line in open("/proc/self/status", encoding="utf-8"):
        if line.startswith(("VmRSS:", "VmHWM:")):
            vals[line.split(":")[0]] = int(line.split()[1]) / 1024
    return vals["VmRSS"], vals["VmHWM"]


def run(
    days: int, data_dir: Path, *, reps: int, naive_reps: int, log=data.log, only: set[str] | None = None
) -> dict[str, Any]:
    """Time the query mix over a `days`-day table (the queries named in `only`, or all); return p50/p95 per
    query, naive p50, bytes fractions. Each query's naive runs are spread among its own runs (one naive run
    every reps / naive_reps), so both see the same machine load; its first page is checked against the
    naive plan's rows before timing (same semantics, or the run stops)."""
    end = data.END_DATE
    week = (end - timedelta(days=6), end)
    span = (end - timedelta(days=days - 1), end)
    quarter = (end - timedelta(days=min(90, days) - 1), end)  # issue 13: "an actor over 90 days"
    hour_day = end - timedelta(days=1)
    hour = (datetime(hour_day.year, hour_day.month, hour_day.day, 14, tzinfo=UTC),
            datetime(hour_day.year, hour_day.month, hour_day.day, 14, 59, 59, tzinfo=UTC))
    backend = DuckDBBackend(data_dir)
    client = AuditLogClient(backend)
    # A warm explorer has built the run index files' key filters (keyfilter.py: a background thread after
    # its first lookup); build them now so lookups are timed as the explorer serves them.
    log(f"explorer {days}d: key filters built for {backend.warm_index_filters()} run index files")
    started = time.perf_counter()
    built = backend.warm_actor_filters(span[0], span[1])
    took = time.perf_counter() - started
    log(f"explorer {days}d: actor filters built for {built} data files ({took:.1f} s)")
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
    # Actors: a busy one (a back-office user, hundreds of rows a day) and rare ones (customers: about one
    # row a week), the hard case for a first page (fewer than a page: every day of the range is read).
    rare_actors = [r[0] for r in pick.execute(
        f"SELECT ActorName FROM {table} WHERE dt >= '{quarter[0]}' AND ActorName LIKE '%@example.org' "
        "GROUP BY 1 HAVING count(*) BETWEEN 5 AND 30 AND count(DISTINCT dt) >= 5 ORDER BY 1 LIMIT 2000"
    ).fetchall()]
    rare_actor_names = rng.sample(rare_actors, min(len(rare_actors), 10)) or [BUSY_ACTOR]  # tiny tables
    rare_week = [r[0] for r in pick.execute(
        f"SELECT ActorName FROM {table} WHERE dt >= '{week[0]}' AND ActorName LIKE '%@example.org' "
        "GROUP BY 1 HAVING count(*) BETWEEN 1 AND 20 ORDER BY 1 LIMIT 2000"
    ).fetchall()]
    # typed as a person would: part of the name, in other capitals (the actor name contains it, any case)
    rare_parts = [a.split("@")[0].title() for a in rng.sample(rare_week, min(len(rare_week), 10))] or [
        BUSY_ACTOR_PART
    ]
    # the files holding the first rare actor's rows: what its actor filters (keyfilter.py) let it read
    actor_files = {Path(r[0]).as_posix() for r in pick.execute(
        f"SELECT DISTINCT filename FROM {_naive_table(data_dir, ', filename = true')} "
        f"WHERE dt >= '{quarter[0]}' AND ActorName = $a", {"a": rare_actor_names[0]}
    ).fetchall()}
    pick.close()
    search = AuditLogQuery(week[0], week[1], sources, limit=100)
    changed = replace(search, changed_fields=("status",), changed_to="cancelled")
    one_hour = AuditLogQuery(hour_day, hour_day, sources, time_from=hour[0], time_to=hour[1], limit=100)
    contains = replace(search, actor_contains=BUSY_ACTOR_PART)
    deep_position = Keyset(int(mid[0]), mid[1], "next")
    deep = replace(search, cursor=encode_cursor(deep_position, search, client.settings.cursor_secret))
    counter = {"e": 0, "c": 0, "o": 0, "a": 0, "p": 0}

    def next_of(key: str, values: list[str]) -> str:
        counter[key] += 1
        return values[counter[key] % len(values)]

    week_ts = f"\"Timestamp\" >= {_ts(week[0])} AND \"Timestamp\" < {_ts(week[1] + timedelta(days=1))}"
    src_in = ", ".join(f"'{s}'" for s in sources)
    mid_ts = f"make_timestamp_ms({int(mid[0])})"
    deep_cond = f"(\"Timestamp\" < {mid_ts} OR (\"Timestamp\" = {mid_ts} AND Id < '{mid[1]}'))"
    naive_week = f"SELECT {cols} FROM {table} WHERE {week_ts} AND source IN ({src_in})"
    order_desc = 'ORDER BY "Timestamp" DESC, Id DESC'
    hour_ts = (f"\"Timestamp\" >= TIMESTAMP '{hour[0]:%Y-%m-%d %H:%M:%S}' "
               f"AND \"Timestamp\" < TIMESTAMP '{hour[1] + timedelta(seconds=1):%Y-%m-%d %H:%M:%S}'")
    after_quarter = quarter[1] + timedelta(days=1)
    quarter_ts = f"\"Timestamp\" >= {_ts(quarter[0])} AND \"Timestamp\" < {_ts(after_quarter)}"
    # "status changed to cancelled" without the Changes column: the two JSON values differ and the one
    # after is the JSON text "cancelled" (formatter.typed_json_texts of a word: just that string)
    status_to = ("CAST(json_extract(After, '$.status') AS VARCHAR) = '\"cancelled\"' AND "
                 "CAST(json_extract(Before, '$.status') AS VARCHAR) IS DISTINCT FROM "
                 "CAST(json_extract(After, '$.status') AS VARCHAR)")
    naive_quarter = f"SELECT {cols} FROM {table} WHERE {quarter_ts} AND source IN ({src_in})"
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
        "changed_field_to_value": (  # "which orders went to status cancelled" (7 days, every source)
            lambda: client.query(changed),
            lambda: naive_con.execute(f"{naive_week} AND {status_to} {order_desc} LIMIT 101").fetchall(),
        ),
        "time_window_one_hour": (  # 14:00:00-14:59:59 UTC of one day
            lambda: client.query(one_hour),
            lambda: naive_con.execute(
                f"SELECT {cols} FROM {table} WHERE {hour_ts} AND source IN ({src_in}) {order_desc} LIMIT 101"
            ).fetchall(),
        ),
        "actor_contains": (  # typed `Alice`: hundreds of rows a day, the first day fills the page
            lambda: client.query(contains),
            lambda: naive_con.execute(
                f"{naive_week} AND ActorName ILIKE $p {order_desc} LIMIT 101", {"p": f"%{BUSY_ACTOR_PART}%"}
            ).fetchall(),
        ),
        "actor_contains_rare": (  # part of a customer's name: fewer rows than a page, all 7 days read
            lambda: client.query(replace(search, actor_contains=next_of("p", rare_parts))),
            lambda: naive_con.execute(
                f"{naive_week} AND ActorName ILIKE $p {order_desc} LIMIT 101",
                {"p": f"%{next_of('p', rare_parts)}%"},
            ).fetchall(),
        ),
        "actor_90_days": (  # an exact actor lifts the 7-day cap; a busy one fills the page from its last day
            lambda: client.query(AuditLogQuery(quarter[0], quarter[1], sources, actor_name=BUSY_ACTOR)),
            lambda: naive_con.execute(
                f"{naive_quarter} AND ActorName = $a {order_desc} LIMIT 101", {"a": BUSY_ACTOR}
            ).fetchall(),
        ),
        "actor_90_days_rare": (  # a customer, about one row a week: every day of the 90 is read
            lambda: client.query(
                AuditLogQuery(quarter[0], quarter[1], sources, actor_name=next_of("a", rare_actor_names))
            ),
            lambda: naive_con.execute(
                f"{naive_quarter} AND ActorName = $a {order_desc} LIMIT 101",
                {"a": next_of("a", rare_actor_names)},
            ).fetchall(),
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

    def overlaps(rg: RowGroup, start: datetime, end: datetime) -> bool:
        st = rg.stats.get("Timestamp")
        return st is None or (st[0] <= end and st[1] >= start)

    hour_start, hour_end = hour[0].replace(tzinfo=None), hour[1].replace(tzinfo=None)
    quarter_start = datetime.combine(quarter[0], datetime.min.time())
    quarter_end = datetime.combine(quarter[1], datetime.max.time())
    in_quarter = lambda rg: quarter[0].isoformat() <= rg.dt <= quarter[1].isoformat()  # noqa: E731
    ts_quarter = lambda rg: overlaps(rg, quarter_start, quarter_end)  # noqa: E731
    actor = rare_actor_names[0]
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
        # Changes, ActorName (LIKE) and an hour of a day sorted by EntityId: statistics rule out no row
        # group, so the partitions of the range are what is read (the probe's one day when it fills a page)
        "changed_field_to_value": bytes_read(groups, in_week, SELECT_ALL),
        "time_window_one_hour": bytes_read(
            groups, lambda rg: rg.dt == hour_day.isoformat() and overlaps(rg, hour_start, hour_end),
            SELECT_ALL,
        ),
        "actor_contains": bytes_read(groups, in_week, SELECT_ALL),
        "actor_contains_rare": bytes_read(groups, in_week, SELECT_ALL),
        "actor_90_days": bytes_read(
            groups, lambda rg: in_quarter(rg) and _may_equal(rg, "ActorName", BUSY_ACTOR), SELECT_ALL
        ),
        "actor_90_days_rare": bytes_read(  # the files its actor filters may hold (false positives: ~1%)
            groups, lambda rg: in_quarter(rg) and rg.file in actor_files, SELECT_ALL
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
        "changed_field_to_value": bytes_read(groups, ts_overlaps, SELECT_ALL),
        "time_window_one_hour": bytes_read(groups, lambda rg: overlaps(rg, hour_start, hour_end), SELECT_ALL),
        "actor_contains": bytes_read(groups, ts_overlaps, SELECT_ALL),
        "actor_contains_rare": bytes_read(groups, ts_overlaps, SELECT_ALL),
        "actor_90_days": bytes_read(
            groups, lambda rg: ts_quarter(rg) and _may_equal(rg, "ActorName", BUSY_ACTOR), SELECT_ALL
        ),
        "actor_90_days_rare": bytes_read(
            groups, lambda rg: ts_quarter(rg) and _may_equal(rg, "ActorName", actor), SELECT_ALL
        ),
        "activity_counts": bytes_read(groups, ts_overlaps, ["Timestamp"]),
    }
    results: dict[str, Any] = {
        "days": days, "rows": None, "table_bytes": total,
        "partitions": len({(rg.dt, rg.source) for rg in groups}),
        "files": sum(1 for _ in (data_dir / layout.ANALYTICS_PREFIX).glob("dt=*/source=*/*.parquet")),
        "row_groups": len(groups), "queries": {},
    }
    for name in CHECKED:
        if name in queries and (only is None or name in only):
            _check_same_rows(name, queries[name], counter)
    for name, (ours, naive) in queries.items():
        if only is not None and name not in only:
            continue
        ours()  # warm: first footer reads, plan caches
        t_ours, t_naive = _alternated(ours, naive, reps, naive_reps)
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


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.explorer_bench`: the explorer query mix alone over one cached table; prints and
    writes bench/.cache/explorer-<days>d-<events per day>.json."""
    import argparse
    import json
    import os

    from bench.measure import machine

    parser = argparse.ArgumentParser(prog="python -m bench.explorer_bench", description=main.__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--events-per-day", type=int, default=10_000, help="the table's (default 10,000)")
    parser.add_argument("--reps", type=int, default=30, help="timed runs of each query (default 30)")
    parser.add_argument("--naive-reps", type=int, default=5, help="timed naive runs, spread among them")
    parser.add_argument("--only", nargs="*", help="query names to run (default: all)")
    args = parser.parse_args(argv)
    folder = data.table(args.days, args.events_per_day)
    out: dict[str, Any] = {"machine": machine(), "events_per_day": args.events_per_day}
    out["explorer"] = run(args.days, folder, reps=args.reps, naive_reps=args.naive_reps,
                          only=set(args.only) if args.only else None)
    out["loadavg_at_end"] = os.getloadavg()
    path = data.CACHE / f"explorer-{args.days}d-{args.events_per_day}.json"
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
