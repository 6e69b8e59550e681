"""How current the local data is: the data version caches key on, and the raw objects no run has read yet.

`data_version(data_dir)` is cheap enough for every page view: one stat of manifests/ (every finished run
appends a manifest there, by rename, so the folder's mtime moves) and a listing of yesterday's and today's raw
hour folders compared with those days' newest manifest inputs (etl.watch.pending_objects, whose answer for a
manifest is memoised). A finished run or a new raw object changes the version, so a result cached under the
old one is never served again (issue 12, item 3).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from audit_events.access import ACCESS_STREAM
from etl.manifest import MANIFESTS_PREFIX
from etl.watch import pending_objects

_LINES: dict[tuple[str, int, int], int] = {}
"""Records in a waiting object, by (path, size, mtime_ns): a raw object is written once, by rename."""
_LINES_LOCK = threading.Lock()


@dataclass(frozen=True)
class DataVersion:
    """One state of the local data: `key` changes whenever a run finishes or a raw object lands."""

    key: str
    as_of: datetime | None
    """When the newest finished run wrote its manifest (UTC), None when no run has finished."""
    waiting_objects: tuple[Path, ...]
    """Raw objects of yesterday and today that no finished run has read, sorted; the explorer's own access
    events (objects named auditlog-access-*) are left out, as the default Search leaves them out: otherwise
    every page view, which records one, would make a new version and no cached result would ever be used."""
    waiting_by_day: tuple[tuple[date, tuple[Path, ...]], ...] = ()
    """The same objects grouped by arrival day (days with none left out)."""

    @property
    def waiting_events(self) -> int:
        """Records in the waiting objects (non-blank lines; malformed ones included: the run decides)."""
        return count_records(self.waiting_objects)


def count_records(paths: Iterable[Path]) -> int:
    """Records in the raw objects `paths` (non-blank lines, remembered per file), as the freshness caption
    counts events not yet processed, locally and on Athena (audit_query.s3_tail)."""
    return sum(_records(p) for p in paths)


def _records(path: Path) -> int:
    try:
        st = path.stat()
    except OSError:
        return 0
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _LINES_LOCK:
        if key in _LINES:
            return _LINES[key]
    try:
        with gzip.open(path, "rb") as fh:
            count = sum(1 for line in fh if line.strip())
    except (OSError, EOFError, zlib.error):
        count = 0
    with _LINES_LOCK:
        _LINES[key] = count
    return count


def data_version(data_dir: Path | str, now: datetime | None = None) -> DataVersion:
    """The current data version of a local data folder (see the module docstring)."""
    data_dir = Path(data_dir)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    try:
        mtime_ns = os.stat(data_dir / MANIFESTS_PREFIX).st_mtime_ns
        as_of: datetime | None = datetime.fromtimestamp(mtime_ns / 1e9, UTC)
    except OSError:
        mtime_ns, as_of = 0, None
    days: list[date] = [today - timedelta(days=1), today]
    own = f"{ACCESS_STREAM}-"
    by_day = tuple(
        (day, tuple(p for p in pending_objects(data_dir, day) if not p.name.startswith(own))) for day in days
    )
    waiting = tuple(p for _, found in by_day for p in found)
    digest = hashlib.sha256()
    for path in waiting:
        digest.update(path.relative_to(data_dir).as_posix().encode("utf-8") + b"\n")
    return DataVersion(
        key=f"{mtime_ns}:{digest.hexdigest()[:16]}",
        as_of=as_of,
        waiting_objects=waiting,
        waiting_by_day=tuple((day, found) for day, found in by_day if found),
    )


def stored_up_to(data_dir: Path | str, now: datetime | None = None, days: int = 3) -> dict[str, datetime]:
    """The newest stored event time per source, over the last `days` event dates (naive UTC); a source with
    nothing stored in that window is absent. Reads only those dt= partitions' Timestamp column."""
    import duckdb

    from etl import layout

    data_dir = Path(data_dir)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    files: list[str] = []
    for back in range(days):
        day = today - timedelta(days=back)
        folder = data_dir / layout.ANALYTICS_PREFIX / f"dt={day:%Y-%m-%d}"
        files.extend(str(p) for p in sorted(folder.glob("source=*/*.parquet")))
    if not files:
        return {}
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT source, max(Timestamp) FROM read_parquet(?, hive_partitioning = true) GROUP BY source",
            [files],
        ).fetchall()
    except duckdb.Error:
        return {}
    finally:
        con.close()
    return {str(source): ts for source, ts in rows if ts is not None}


def current_tail(version: DataVersion, data_dir: Path | str) -> pa.Table | None:
    """The tail of every waiting object of `version` (stored schema, dt and source), None when it has no
    rows."""
    tables = [tail_table(data_dir, day, list(files)) for day, files in version.waiting_by_day]
    rows = [t for t in tables if t.num_rows]
    return pa.concat_tables(rows) if rows else None


def tail_table(data_dir: Path | str, day: date, files: list[Path] | None = None) -> pa.Table:
    """The rows the waiting raw objects of arrival day `day` will become (columns as stored, plus dt and
    source), computed by the local ETL's own steps (etl.local read/classify/dedup/output, so the same rules:
    etl/sql.py and etl/rules.py, no copy), without writing anything.

    Rows whose Id the day's run already stored are left out: between a run's swap and its manifest (or for a
    re-delivery of a stored event) a row is never served twice. `files` defaults to the waiting objects.
    """
    import duckdb

    from etl import layout, local
    from etl import sql as etl_sql
    from etl.schema import COLUMN_NAMES
    from etl.settings import EtlSettings

    data_dir = Path(data_dir)
    files = pending_objects(data_dir, day) if files is None else files
    names = [*COLUMN_NAMES, "dt", "source"]
    if not files:
        return _empty_tail(names)
    settings = EtlSettings.from_env()
    run = layout.run_id(day)
    found = local._Found(run, data_dir, files)
    holder = [local._lines_table(files, data_dir, found.quarantine, found.objects, run, settings)]
    con = duckdb.connect(config={"threads": 1})
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(etl_sql.MACROS)
        slow_keys, slow_rows = local._classify(con, holder, found, lambda stage, done, total: None)
        local._dedup(con, slow_keys)
        out, _, _, _ = local._output(con, slow_rows, day)
        analytics = data_dir / layout.ANALYTICS_PREFIX
        stored = sorted(str(p) for p in analytics.glob(f"dt=*/source=*/{run}.parquet"))
        if stored:
            import pyarrow.compute as pc
            import pyarrow.parquet as pq

            ids = pa.chunked_array([pq.read_table(p, columns=["Id"]).column("Id") for p in stored])
            out = out.filter(pc.invert(pc.is_in(out.column("Id"), value_set=ids.combine_chunks())))
    finally:
        con.close()
    from etl.schema import arrow_schema

    stored_cols = out.select(list(COLUMN_NAMES)).cast(arrow_schema())
    return stored_cols.append_column("dt", out.column("dt")).append_column("source", out.column("source"))


def _empty_tail(names: list[str]) -> pa.Table:
    from etl.schema import COLUMNS

    types = [c.arrow_type for c in COLUMNS] + [pa.string(), pa.string()]
    return pa.table({n: pa.array([], t) for n, t in zip(names, types, strict=True)})
