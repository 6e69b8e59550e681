"""Bench data sets, generated once and cached under bench/.cache/ (git-ignored).

- `raw_days(days, events_per_day)`: Firehose raw objects written by the demo generator
  (audit_events.demo.generate_demo, seed 0, ending on END_DATE). Used by the ETL benchmark.
- `table(days)`: a Parquet table of `days` event days. The real local ETL (etl.local.run_etl per arrival
  day) runs over the 7-day demo raw set; its 7 complete event days are then replicated backwards in time
  with DuckDB: copy k (k >= 1) of event day X becomes day X - 7k, with Timestamp shifted by as many days
  and Id/EventId/EntityId/EntityParentId/CorrelationId prefixed with "c<k>-" so entities stay distinct per
  copy. Each copied file keeps the ETL's layout (dt=/source=/run-<arrival day shifted>.parquet), sort order
  (EntityId, Timestamp, Id), row-group size (etl.local.ROW_GROUP_SIZE) and compression (zstd), written
  with the same pyarrow writer call as the ETL. Copy 0 is the ETL's own files.
- `build_entity_index(folder)`: the entity index files (analytics/entity_index/<run_id>.parquet) of a table
  built before the ETL wrote them: one per run id found in the data file names, the rows the ETL would write
  (etl.local.INDEX_SQL over that run's files, written by etl.local.write_index_file). `table()` calls it.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from etl import layout, local
from etl.schema import COLUMN_NAMES, arrow_schema

CACHE = Path(__file__).resolve().parent / ".cache"
INDEX_MARKER = "INDEX_WITH_CORRELATION"  # a cached table's run index files also key correlation ids
END_DATE = date(2026, 11, 27)
SEED = 0
BASE_DAYS = 7
REWRITTEN = ("Id", "EventId", "EntityId", "EntityParentId", "CorrelationId")


def log(msg: str) -> None:
    """Progress on stderr, flushed."""
    print(msg, file=sys.stderr, flush=True)


def raw_days(days: int = BASE_DAYS, events_per_day: int = 100_000) -> Path:
    """A data folder holding demo raw objects for `days` x `events_per_day` (generated once, then cached)."""
    from audit_events.demo import generate_demo

    target = CACHE / f"raw-{days}d-{events_per_day}"
    done = target / "DONE.json"
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    started = time.perf_counter()
    last = [0.0]

    def progress(n: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 5 or n == total:
            last[0] = now
            log(f"  demo raw {target.name}: {n:,}/{total:,} events ({now - started:.0f} s)")

    summary = generate_demo(
        target, days=days, events_per_day=events_per_day, end_date=END_DATE, seed=SEED, progress=progress
    )
    info = {
        "generator": "audit_events.demo.generate_demo", "days": days, "events_per_day": events_per_day,
        "end_date": END_DATE.isoformat(), "seed": SEED, "events": summary.events, "rows": summary.rows,
        "records": summary.records, "files": summary.files,
        "seconds": round(time.perf_counter() - started, 1),
    }
    done.write_text(json.dumps(info, indent=2) + "\n")
    return target


def _etl_base(events_per_day: int) -> Path:
    """The 7-day demo raw set run through the real local ETL (cached): the seed of every replicated table."""
    target = CACHE / f"etl-{BASE_DAYS}d-{events_per_day}"
    if (target / "DONE").exists():
        return target
    src = raw_days(BASE_DAYS, events_per_day)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(src / layout.RAW_PREFIX, target / layout.RAW_PREFIX)
    started = time.perf_counter()
    for day in local.raw_days(target):
        report = local.run_etl(target, day)
        log(f"  etl {report.run_id}: {report.rows_out:,} rows ({time.perf_counter() - started:.0f} s)")
    (target / "DONE").write_text("ok\n")
    return target


def table(days: int, events_per_day: int = 100_000) -> Path:
    """A data folder whose analytics/auditlog/ holds `days` event days ending END_DATE (cached)."""
    target = CACHE / f"table-{days}d-{events_per_day}"
    if (target / "DONE").exists():
        # tables cached before the ETL wrote an index, or one without correlation keys, get one (once)
        build_entity_index(target, force=not (target / INDEX_MARKER).exists())
        (target / INDEX_MARKER).write_text("ok\n")
        return target
    base = _etl_base(events_per_day)
    shutil.rmtree(target, ignore_errors=True)
    root = target / layout.ANALYTICS_PREFIX
    base_root = base / layout.ANALYTICS_PREFIX
    first_base = END_DATE - timedelta(days=BASE_DAYS - 1)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    cols = ", ".join(
        (f"'c' || $k || '-' || \"{c}\" AS \"{c}\"" if c in REWRITTEN else
         "\"Timestamp\" - to_days($shift) AS \"Timestamp\"" if c == "Timestamp" else f'"{c}"')
        for c in COLUMN_NAMES
    )
    schema = arrow_schema()
    started = time.perf_counter()
    for i in range(days):
        dt = END_DATE - timedelta(days=i)
        k, pos = divmod(i, BASE_DAYS)
        src_dt = END_DATE - timedelta(days=pos)
        assert src_dt >= first_base
        shift = (src_dt - dt).days
        for src_file in sorted(base_root.glob(f"dt={src_dt:%Y-%m-%d}/source=*/*.parquet")):
            source = src_file.parent.name.removeprefix("source=")
            stem = src_file.stem.removeprefix("run-")
            run_day = date(int(stem[:4]), int(stem[4:6]), int(stem[6:8]))
            run = layout.run_id(run_day - timedelta(days=shift))
            rel = layout.analytics_partition_prefix(dt, source) + f"{run}.parquet"
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if k == 0:
                shutil.copyfile(src_file, dest)
                continue
            tbl = con.sql(
                f"SELECT {cols} FROM read_parquet($f) "  # noqa: S608 (schema names only)
                'ORDER BY "EntityId", "Timestamp", "Id"',
                params={"k": k, "shift": shift, "f": str(src_file)},
            ).to_arrow_table()
            pq.write_table(tbl.cast(schema), dest, compression="zstd", row_group_size=local.ROW_GROUP_SIZE)
        if (i + 1) % 7 == 0 or i + 1 == days:
            log(f"  table {days}d: {i + 1}/{days} days ({time.perf_counter() - started:.0f} s)")
    con.close()
    assert root.is_dir()
    build_entity_index(target)
    (target / INDEX_MARKER).write_text("ok\n")
    (target / "DONE").write_text("ok\n")
    return target


def build_entity_index(data_dir: Path, *, force: bool = False) -> int:
    """Write analytics/entity_index/<run_id>.parquet for every run id of the data files under `data_dir`
    that has none (every one with `force`); return how many were written."""
    root = data_dir / layout.ANALYTICS_PREFIX
    by_run: dict[str, list[str]] = {}
    for path in sorted(root.glob("dt=*/source=*/*.parquet")):
        by_run.setdefault(path.stem, []).append(str(path))
    con = duckdb.connect()
    con.execute("SET threads = 2")
    written = 0
    started = time.perf_counter()
    for run, paths in sorted(by_run.items()):
        dest = data_dir / layout.entity_index_key_for_run(run)
        if dest.exists() and not force:
            continue
        rows = con.sql(
            'SELECT "EntityId", "EntityParentId", "CorrelationId", dt, source FROM read_parquet($f, '
            "hive_partitioning = true, "
            "hive_types = {'dt': VARCHAR, 'source': VARCHAR})",
            params={"f": paths},
        ).to_arrow_table()
        con.register("out", rows)
        local.write_index_file(con.sql(local.INDEX_SQL).to_arrow_table(), dest)
        con.unregister("out")
        written += 1
        if written % 50 == 0:
            log(f"  entity index {data_dir.name}: {written} runs ({time.perf_counter() - started:.0f} s)")
    con.close()
    return written


if __name__ == "__main__":
    for n in (int(a) for a in sys.argv[1:]):
        log(f"table {n} days: {table(n)}")
