"""The local ETL: one raw arrival day -> Parquet partitions, in DuckDB (rules: etl/SEMANTICS.md).

A run (`run_etl`) holds its arrival day's lock (etl.runlock) and goes through five steps: read (every raw
object inflated under a size bound and cut into screened lines, etl.raw), classify (etl.rules applied in
SQL, etl.sql, and in Python for the rest), dedup, write (stage, then swap in), report. Fast path: every line
that DuckDB reads as exactly one JSON value whose re-serialisation equals the source (so no number or escape
would be rewritten) is validated and flattened in SQL. Every other line goes to `etl.raw` (split
concatenated objects, strict parse keeping original text) and the same rules in Python.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from etl import layout, raw, runlock, sql
from etl.errors import AuditLogError
from etl.manifest import write_local_manifest
from etl.rules import (
    MESSAGES,
    REASONS,
    changes,
    format_event_time,
    has_control_character,
    parse_event_time,
    valid_source,
)
from etl.schema import (
    ACTOR_TYPE_NAMES,
    COLUMN_NAMES,
    COLUMNS,
    INDEX_ROW_GROUP_SIZE,
    arrow_schema,
    index_arrow_schema,
)
from etl.settings import EtlSettings
from etl.sql import INDEX_SQL, TIME_FROM_PARTS, TIME_IN_RANGE, TIME_PARTS, clean_lines

Progress = Callable[[str, int, int], None]
DayDone = Callable[[date, "RunReport | Exception", float], None]
"""Called as each day of run_days ends: the day, its report (or error), and its wall-clock seconds."""

ENGINE = "duckdb"
ROW_GROUP_SIZE = 10_000
READ_THREADS = WRITE_THREADS = 2
SWAP_LOCK_TIMEOUT_SECONDS = 600.0
"""How long a run waits for another day's swap step (a few seconds at most) before it fails."""
STAGING_PREFIX = "analytics/_staging/"
REASON_MESSAGES = MESSAGES  # etl.rules' messages (kept under the old name for callers)
# The SQL text lives in etl.sql; these names stay for callers that used them from here.
_MACROS, _FAST_LINE = sql.MACROS, sql.FAST_LINE
__all__ = ["INDEX_SQL", "TIME_FROM_PARTS", "TIME_IN_RANGE", "TIME_PARTS", "clean_lines"]


@dataclass
class RunReport:
    """What one run read, stored and set aside; written as reports/<run_id>.json."""

    run_id: str
    arrival_day: str
    engine: str
    started_at: str
    finished_at: str
    files_in: int
    events_in: int
    quarantined: int
    duplicates_removed: int
    events_stored: int
    rows_out: int
    late_rows: int
    max_event_time: str | None
    partitions: list[dict[str, Any]] = field(default_factory=list)
    index_file: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    quarantined_objects: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, keys in the documented order."""
        return asdict(self)


# --- Row semantics, Python side (lines DuckDB cannot take exactly) ------------------------------------------


def _get(value: raw.Raw | None, *path: str) -> raw.Raw | None:
    for key in path:
        if value is None or value.kind != "object":
            return None
        value = value.value.get(key)
    return value


def _text(value: raw.Raw | None) -> str | None:
    return None if value is None else value.as_text()


def parse_time(value: raw.Raw | None) -> datetime | None:
    """Envelope `time` as a naive UTC datetime truncated to ms, or None when etl.rules rejects it.

    >>> parse_time(raw.parse_raw('"2026-11-27T01:30:00.123456+02:00"'))
    datetime.datetime(2026, 11, 26, 23, 30, 0, 123000)
    """
    if value is None or value.kind != "string":
        return None
    return parse_event_time(value.value)


def _is_number(value: raw.Raw | None) -> bool:
    return value is not None and value.kind == "number"


def python_record(rec: raw.Raw) -> tuple[str | None, str | None, list[dict[str, Any]], datetime | None]:
    """(reason or None, dedup key, rows as {column: value} + dt/source, timestamp) for one parsed record."""
    if rec.kind != "object":
        return "not_an_object", None, [], None
    entities = _get(rec, "detail", "entities")
    if entities is None or entities.kind != "array" or not entities.value:
        return "no_entities", None, [], None
    for item in entities.value:
        eid = _get(item, "entity", "id")
        if not (_is_number(eid) or (eid is not None and eid.kind == "string" and eid.value != "")):
            return "entity_without_id", None, [], None
    for item in entities.value:
        if has_control_character(_text(_get(item, "entity", "id"))) or has_control_character(
            _text(_get(item, "parent", "id"))
        ):
            return "id_control_character", None, [], None
    ts = parse_time(rec.value.get("time"))
    if ts is None:
        return "invalid_time", None, [], None
    source = rec.value.get("source")
    if source is None or source.kind != "string" or not valid_source(source.value):
        return "invalid_source", None, [], None
    event_id = _get(rec, "detail", "event_id")
    if (event_id is not None and event_id.kind == "string" and event_id.value) or _is_number(event_id):
        key = _text(event_id)
    else:
        key = _text(rec.value.get("id"))
    actor_type = _text(_get(rec, "detail", "actor", "type"))
    names = {str(code): name for code, name in ACTOR_TYPE_NAMES.items()}
    common = {
        "EventId": key,
        "Timestamp": ts,
        "DetailType": _text(rec.value.get("detail-type")),
        "ActorName": _text(_get(rec, "detail", "actor", "name")),
        "ActorType": names.get(actor_type, actor_type) if actor_type is not None else None,
        "EntityType": _text(_get(rec, "detail", "entity_type")),
        "Action": _text(_get(rec, "detail", "action")),
        "CorrelationId": _text(_get(rec, "detail", "correlation_id")),
        "dt": ts.date().isoformat(),
        "source": source.value,
    }
    rows = []
    for p, item in enumerate(entities.value):
        before, after = _get(item, "before"), _get(item, "after")
        before_text = None if before is None or before.kind == "null" else before.text
        after_text = None if after is None or after.kind == "null" else after.text
        row = {
            "Id": f"{key or ''}:{p}",
            "EntityId": _text(_get(item, "entity", "id")),
            "EntityName": _text(_get(item, "entity", "name")),
            "EntityParentId": _text(_get(item, "parent", "id")),
            "EntityParentName": _text(_get(item, "parent", "name")),
            "EntityParentType": _text(_get(item, "parent", "type")),
            "ChannelCode": _text(_get(item, "channel_code")),
            "ChannelAccountCode": _text(_get(item, "channel_account_code")),
            "Before": before_text,
            "After": after_text,
            **common,
            "Changes": [
                {"Field": f, "Before": b, "After": a} for f, b, a in changes(before_text, after_text)
            ],
        }
        rows.append(row)
    return None, key, rows, ts


# --- The run ------------------------------------------------------------------------------------------------


def _utc_iso(ts: datetime | None) -> str | None:
    return None if ts is None else format_event_time(ts)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _lines_table(
    files: list[Path],
    data_dir: Path,
    quarantine: list[dict[str, Any]],
    objects: list[dict[str, Any]],
    run: str,
    settings: EtlSettings,
) -> pa.Table:
    """(file_idx, line_no, line, clean) for every non-blank line of every file (clean: see clean_lines).

    Non-UTF-8 and over-long lines go straight to `quarantine`; an object that cannot be read whole (not gzip,
    truncated, no access, over the size bound) gets one entry in `objects` and its complete lines read before
    the break are processed. Files are decompressed and screened on a small thread pool (zlib, Arrow's
    UTF-8 check and RE2 release the GIL).
    """
    chunks = []

    def read(path: Path) -> tuple[raw.ObjectLines, list[pa.BooleanArray]]:
        lines = raw.read_object_lines(path, settings.max_object_bytes, settings.max_record_bytes)
        return lines, [clean_lines(arr) for arr in lines.lines]

    with ThreadPoolExecutor(READ_THREADS) as pool:
        results = list(pool.map(read, files))
    for idx, (path, (obj, clean)) in enumerate(zip(files, results, strict=True)):
        for no, text in obj.not_utf8:
            msg = f"{MESSAGES['invalid_json']}: not UTF-8"
            quarantine.append(_qrow(run, data_dir, path, no, 0, "invalid_json", msg, text))
        for no, size, head in obj.too_long:
            msg = f"{MESSAGES['record_too_large']} ({size:,} bytes; raw holds its first characters)"
            quarantine.append(_qrow(run, data_dir, path, no, 0, "record_too_large", msg, head))
        if obj.problem is not None:
            objects.append(_object_row(run, data_dir, path, obj.problem))
        for numbers, lines, screened in zip(obj.line_no, obj.lines, clean, strict=True):
            chunks.append(
                pa.record_batch(
                    [
                        _numpy_array(np.full(len(numbers), idx, dtype=np.int32), pa.int32()),
                        _numpy_array(numbers, pa.int64()),
                        lines,
                        screened,
                    ],
                    names=["file_idx", "line_no", "line", "clean"],
                )
            )
    schema = pa.schema(
        [("file_idx", pa.int32()), ("line_no", pa.int64()), ("line", pa.string()), ("clean", pa.bool_())]
    )
    return pa.Table.from_batches(chunks, schema=schema)


def _numpy_array(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """A zero-copy Arrow array over a numpy buffer (pa.array(numpy) would import pandas, ~1 s)."""
    return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(values)])


def _object_row(run: str, data_dir: Path, path: Path, problem: raw.ObjectProblem) -> dict[str, Any]:
    """The quarantine entry of a whole raw object (no line, no raw text)."""
    return {
        "run_id": run,
        "file": path.relative_to(data_dir).as_posix(),
        "line": None,
        "reason": problem.reason,
        "message": f"{MESSAGES[problem.reason]}: {problem.error}",
        "raw": None,
        "records_read": problem.records_read,
        "_pos": 0,
    }


def _qrow(
    run: str, data_dir: Path, path: Path, line: int, pos: int, reason: str, message: str, text: str
) -> dict[str, Any]:
    return {
        "run_id": run,
        "file": path.relative_to(data_dir).as_posix(),
        "line": line,
        "reason": reason,
        "message": message,
        "raw": text,
        "_pos": pos,
    }


def _atomic_write(path: Path, text: str) -> None:
    """Write `text` to a temp name beside `path`, then rename; a failed write (a full disk) leaves nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_etl(
    data_dir: Path,
    arrival_day: date,
    *,
    progress: Progress | None = None,
    threads: int | None = None,
    settings: EtlSettings | None = None,
) -> RunReport:
    """Process every raw object that arrived on `arrival_day`; replace this run's Parquet files; report.

    The whole run holds the day's lock (etl.runlock): a second run of the same day waits up to
    `settings.lock_timeout_seconds`, then raises RunLocked having changed nothing. `threads` caps DuckDB's
    threads (default: all cores). Raises ValueError naming the folder when that day has no raw .gz objects.
    """
    data_dir = Path(data_dir)
    settings = settings or EtlSettings.from_env()
    run = layout.run_id(arrival_day)
    started = _now()
    attempt = f"{run}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{os.getpid()}-{threading.get_ident() % 10_000}"
    owner = {"attempt": attempt, "pid": os.getpid(), "started_at": started}
    with runlock.hold(data_dir, run, settings.lock_timeout_seconds, owner):
        _clean_stale_staging(data_dir, run, settings)
        report = _run_locked(data_dir, arrival_day, attempt, started, progress, threads, settings)
        # The run is complete here (report written, lock still held): the one place for an end-of-run step.
        return report


def _clean_stale_staging(data_dir: Path, run: str, settings: EtlSettings) -> None:
    """Remove staging folders left by earlier attempts of this run (a killed or failed process): safe, as this
    process holds the day's lock, so no other attempt of the day is alive."""
    root = data_dir / STAGING_PREFIX
    if not root.is_dir():
        return
    with runlock.hold(data_dir, runlock.SWAP_LOCK, settings.lock_timeout_seconds):
        for stale in [root / run, *root.glob(f"{run}-*")]:
            shutil.rmtree(stale, ignore_errors=True)
        _prune_staging_root(data_dir)


def _prune_staging_root(data_dir: Path) -> None:
    root = data_dir / STAGING_PREFIX
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()


def _run_locked(
    data_dir: Path,
    arrival_day: date,
    attempt: str,
    started: str,
    progress: Progress | None,
    threads: int | None,
    settings: EtlSettings,
) -> RunReport:
    """The run itself, with the day's lock held (see run_etl): read, classify, dedup, write, report."""
    run = layout.run_id(arrival_day)
    files = raw.raw_files(data_dir, arrival_day)
    if not files:
        raise NoRawObjects(
            f"no raw .gz objects for {arrival_day:%Y-%m-%d} in {raw.raw_day_dir(data_dir, arrival_day)}"
        )
    report_progress = progress or (lambda stage, done, total: None)
    found = _Found(run, data_dir, files)
    report_progress("read", 0, len(files))
    holder = [_lines_table(files, data_dir, found.quarantine, found.objects, run, settings)]
    report_progress("read", len(files), len(files))
    con = duckdb.connect(config={} if threads is None else {"threads": threads})
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")
        con.execute(sql.MACROS)
        slow_keys, slow_rows = _classify(con, holder, found, report_progress)
        events_good, events_stored = _dedup(con, slow_keys)
        out, parts, stats, index = _output(con, slow_rows, arrival_day)
    finally:
        con.close()  # before writing: frees DuckDB's memory while the files are written
    written = _write_outputs(out, parts, stats, data_dir, run, attempt, report_progress, index)
    return _report(found, arrival_day, started, events_good, events_stored, written)


@dataclass
class _Found:
    """What a run set aside so far: quarantined records (with `_pos`) and unreadable objects."""

    run: str
    data_dir: Path
    files: list[Path]
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)

    def add(self, file_idx: int, line_no: int, pos: int, reason: str, message: str, text: str) -> None:
        """Quarantine one record of file `file_idx`."""
        path = self.files[file_idx]
        self.quarantine.append(_qrow(self.run, self.data_dir, path, line_no, pos, reason, message, text))


def _classify(
    con: duckdb.DuckDBPyConnection, holder: list[pa.Table], found: _Found, progress: Progress
) -> tuple[list[tuple[int, int, int, str | None]], list[tuple[int, int, int, dict[str, Any]]]]:
    """Classify step: the fast path in SQL (table `fast`), the rest through etl.raw and python_record.

    `holder` holds the only reference to the lines table, released once DuckDB has read it (the raw text
    of a whole day is the largest thing a run holds). Quarantines every record that breaks a rule; returns
    the Python path's good records (position, key) and their rows.
    """
    con.register("raw_lines", holder[0])
    n_lines = holder[0].num_rows
    progress("parse", 0, n_lines)
    con.execute(sql.FAST_TABLE_SQL)
    con.unregister("raw_lines")
    holder.clear()
    for file_idx, line_no, line, reason in con.execute(sql.FAST_QUARANTINE_SQL).fetchall():
        found.add(file_idx, line_no, 0, reason, MESSAGES[reason], line)
    # Slow path: whatever DuckDB could not take as one exact JSON value.
    slow_keys: list[tuple[int, int, int, str | None]] = []
    slow_rows: list[tuple[int, int, int, dict[str, Any]]] = []
    for file_idx, line_no, line in con.execute(sql.SLOW_LINES_SQL).fetchall():
        for rec in raw.split_records(line):
            if rec.value is None:
                msg = f"{MESSAGES['invalid_json']}: {rec.error}"
                found.add(file_idx, line_no, rec.pos, "invalid_json", msg, rec.text)
                continue
            reason, key, rows, _ = python_record(rec.value)
            if reason is not None:
                found.add(file_idx, line_no, rec.pos, reason, MESSAGES[reason], rec.text)
                continue
            slow_keys.append((file_idx, line_no, rec.pos, key))
            slow_rows.extend((file_idx, line_no, rec.pos, r) for r in rows)
    progress("parse", n_lines, n_lines)
    return slow_keys, slow_rows


SlowKey = tuple[int, int, int, str | None]
"""(file_idx, line_no, pos, dedup key) of a Python-path record."""


def _dedup(con: duckdb.DuckDBPyConnection, slow_keys: list[SlowKey]) -> tuple[int, int]:
    """Dedup step over both paths in record order (table `winners`); returns (good events, stored events)."""
    con.execute(sql.SLOW_KEYS_TABLE_SQL)
    if slow_keys:
        con.executemany("INSERT INTO slow_keys VALUES (?, ?, ?, ?)", slow_keys)
    con.execute(sql.WINNERS_SQL)
    good = con.execute(sql.COUNTS_SQL).fetchall()[0]
    return int(good[0]), int(good[1])


def _output(
    con: duckdb.DuckDBPyConnection,
    slow_rows: list[tuple[int, int, int, dict[str, Any]]],
    arrival_day: date,
) -> tuple[pa.Table, list[tuple[str, str, int]], tuple[int, int, datetime | None], pa.Table]:
    """The winners' rows in file order, their partitions (dt, source, rows), stats and entity index rows."""
    slow = False
    if slow_rows:
        won = set(con.execute("SELECT file_idx, line_no, pos FROM winners").fetchall())
        picked = [r for (fi, ln, pos, r) in slow_rows if (fi, ln, pos) in won]
        if picked:
            out_names = (*COLUMN_NAMES, "dt", "source")
            types = [c.arrow_type for c in COLUMNS] + [pa.string(), pa.string()]
            slow_table = pa.table(
                {n: pa.array([r[n] for r in picked], t) for n, t in zip(out_names, types, strict=True)}
            )
            con.register("slow_out", slow_table)
            slow = True
    out = con.sql(sql.sorted_out_sql(slow)).to_arrow_table()
    con.execute("DROP TABLE fast")
    con.register("out", out)
    parts = con.execute(sql.PARTS_SQL).fetchall()
    stats = con.execute(sql.STATS_SQL, [arrival_day.isoformat()]).fetchall()[0]
    index = con.sql(INDEX_SQL).to_arrow_table()
    return out, parts, stats, index


def _report(
    found: _Found,
    arrival_day: date,
    started: str,
    events_good: int,
    events_stored: int,
    written: dict[str, Any],
) -> RunReport:
    """Report step: the quarantine file (records, then objects per file), then the run report, last."""
    quarantine = found.quarantine
    entries = sorted(quarantine + found.objects, key=lambda q: (q["file"], q["line"] or 0, q["_pos"]))
    _write_quarantine(found.data_dir, arrival_day, entries)
    reasons = Counter(q["reason"] for q in quarantine)
    result = RunReport(
        run_id=found.run,
        arrival_day=arrival_day.isoformat(),
        engine=ENGINE,
        started_at=started,
        finished_at=_now(),
        files_in=len(found.files),
        events_in=events_good + len(quarantine),
        quarantined=len(quarantine),
        duplicates_removed=events_good - events_stored,
        events_stored=events_stored,
        rows_out=written["rows_out"],
        late_rows=written["late_rows"],
        max_event_time=written["max_event_time"],
        partitions=written["partitions"],
        index_file=written["index_file"],
        quarantine_reasons={r: reasons[r] for r in REASONS if reasons[r]},
        quarantined_objects=[
            {k: o[k] for k in ("file", "reason", "message", "records_read")}
            for o in sorted(found.objects, key=lambda o: o["file"])
        ],
    )
    _atomic_write(
        found.data_dir / layout.report_key(arrival_day), json.dumps(result.to_dict(), indent=2) + "\n"
    )
    # Last step, still under the day's lock: the signed, chained manifest (etl/manifest.py). An object that
    # could not even be opened cannot be hashed; it is named in the report's quarantined objects instead.
    readable = [f for f in found.files if os.access(f, os.R_OK)]
    write_local_manifest(found.data_dir, result, readable)
    return result


def _write_quarantine(data_dir: Path, arrival_day: date, quarantine: list[dict[str, Any]]) -> None:
    path = data_dir / layout.quarantine_key(arrival_day)
    if not quarantine:
        path.unlink(missing_ok=True)
        return
    text = "".join(
        raw.jsonl_line({k: v for k, v in q.items() if k != "_pos"}) for q in quarantine
    )
    _atomic_write(path, text)


def write_index_file(index: pa.Table, path: Path) -> None:
    """Write entity index rows (INDEX_SQL's result) as the ETL does: index schema, zstd, 50,000-row groups."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        index.cast(index_arrow_schema()), path, compression="zstd", row_group_size=INDEX_ROW_GROUP_SIZE
    )


def _write_outputs(
    out: pa.Table,
    parts: list[tuple[str, str, int]],
    stats: tuple[int, int, datetime | None],
    data_dir: Path,
    run: str,
    attempt: str,
    progress: Progress,
    index: pa.Table,
) -> dict[str, Any]:
    """Write one Parquet file per (dt, source) and the run's entity index into staging, then swap them in
    for this run's old files.

    `out` holds every row sorted by dt, source, then the file order; `parts` its (dt, source, rows) in that
    order; `stats` (rows, late rows, max Timestamp); `index` the entity index rows, sorted.
    The old index goes first and the new one comes last, so an index file never names partitions whose
    files are not all in place (a reader without an index for a run scans everything).
    """
    staging = data_dir / STAGING_PREFIX / attempt
    index_rel = layout.entity_index_key_for_run(run) if index.num_rows else None
    data = out.select(list(COLUMN_NAMES)).cast(arrow_schema())
    partitions = []
    jobs = []
    offset = 0
    for dt, source, rows in parts:  # `out` is sorted by (dt, source) exactly as `parts` is
        rel = layout.analytics_partition_prefix(date.fromisoformat(dt), source) + f"{run}.parquet"
        jobs.append((data.slice(offset, rows), staging / rel))
        offset += rows
        partitions.append({"dt": dt, "source": source, "rows": rows, "file": rel})

    def write(job: tuple[pa.Table, Path]) -> None:
        job[1].parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(job[0], job[1], compression="zstd", row_group_size=ROW_GROUP_SIZE)

    # One swap at a time touches the shared folders (staging root, partition folders), across processes.
    with runlock.hold(data_dir, runlock.SWAP_LOCK, SWAP_LOCK_TIMEOUT_SECONDS):
        try:
            progress("write", 0, len(parts))
            with ThreadPoolExecutor(WRITE_THREADS) as pool:
                for i, _ in enumerate(pool.map(write, jobs), 1):
                    progress("write", i, len(parts))
            if index_rel is not None:
                write_index_file(index, staging / index_rel)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # a failed write (a full disk) leaves nothing behind
            _prune_staging_root(data_dir)
            raise
        (data_dir / layout.entity_index_key_for_run(run)).unlink(missing_ok=True)
        analytics = data_dir / layout.ANALYTICS_PREFIX
        for old in analytics.glob(f"dt=*/source=*/{run}.parquet"):
            old.unlink()
            for folder in (old.parent, old.parent.parent):
                if not any(folder.iterdir()):
                    folder.rmdir()
        for part in partitions:
            dest = data_dir / str(part["file"])
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / str(part["file"]), dest)
        if index_rel is not None:
            (data_dir / index_rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / index_rel, data_dir / index_rel)
        shutil.rmtree(staging, ignore_errors=True)
        _prune_staging_root(data_dir)
    return {
        "rows_out": stats[0],
        "late_rows": stats[1],
        "max_event_time": _utc_iso(stats[2]),
        "partitions": partitions,
        "index_file": index_rel,
    }


def raw_days(data_dir: Path) -> list[date]:
    """Every arrival day that has raw objects, sorted."""
    return raw.raw_days(Path(data_dir))


class NoRawObjects(AuditLogError, ValueError):
    """The arrival day asked for has no raw .gz objects (the message names the folder looked in)."""


class RunFailed(AuditLogError, RuntimeError):
    """Some arrival days could not be processed (engine errors, a lock held too long, a full disk); every
    other day's run completed.

    A day that failed before its swap replaced nothing: its previous files, if any, are still in place (a
    failure inside the short swap step, or after it, is repaired by rerunning the day).
    """

    def __init__(self, failures: dict[date, Exception], reports: list[RunReport]) -> None:
        self.failures = failures
        self.reports = reports
        lines = [f"{day}: {type(exc).__name__}: {exc}" for day, exc in sorted(failures.items())]
        super().__init__(
            f"{len(failures)} arrival day(s) failed (each keeps its previous files; rerun it):\n"
            + "\n".join(lines)
        )


def run_all(data_dir: Path, *, progress: Progress | None = None, workers: int = 2) -> list[RunReport]:
    """Run every arrival day present under raw/ (reports oldest first); ValueError when there is none."""
    days = raw_days(data_dir)
    if not days:
        raise ValueError(f"no raw .gz objects under {Path(data_dir) / layout.RAW_PREFIX}")
    return run_days(data_dir, days, progress=progress, workers=workers)


def run_days(
    data_dir: Path,
    days: list[date],
    *,
    progress: Progress | None = None,
    workers: int = 2,
    day_done: DayDone | None = None,
) -> list[RunReport]:
    """Run the given arrival days (reports in the order given).

    Days are independent runs (each owns its `<run_id>.parquet` files), so `workers` of them run at once on
    threads, each DuckDB connection with `threads=1`: DuckDB, zlib and the Parquet writer release the GIL,
    and one day's Python steps overlap another's SQL. The swap into analytics/ stays serialised. A day that
    fails (in the engine, on a lock held by another run, on the disk) does not stop the others: RunFailed
    lists it after every other day has run. `day_done(day, report_or_error, seconds)` is called as each day
    ends (from the worker thread that ran it), e.g. to advance a progress bar.
    """
    threads = None if workers <= 1 or len(days) == 1 else 1

    def one(day: date) -> RunReport | Exception:
        result: RunReport | Exception
        began = time.monotonic()
        try:
            result = run_etl(data_dir, day, progress=progress, threads=threads)
        except NoRawObjects:
            raise  # the caller named a day with nothing to read: a usage error, not a failed run
        except Exception as exc:  # noqa: BLE001 (any failure of one day is reported, the others still run)
            result = exc
        if day_done is not None:
            day_done(day, result, time.monotonic() - began)
        return result

    if threads is None:
        results = [one(day) for day in days]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, days))
    reports = [r for r in results if isinstance(r, RunReport)]
    failures = {d: r for d, r in zip(days, results, strict=True) if isinstance(r, Exception)}
    if failures:
        raise RunFailed(failures, reports)
    return reports
