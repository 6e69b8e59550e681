"""Export a whole filtered view (every page) to CSV, JSON Lines or Parquet, streaming page by page.

Only one page (at most `max_limit` rows) is held in memory: pages come from `client.iter_pages`, each is
written out before the next is read. Columns are the table schema's (etl.schema) followed by `dt`, `source`
and `NotYetProcessed`: true for a row served from a raw object no finished run has read yet (the tail, issue
12), false for a stored row; `ExportResult.not_yet_processed` counts them and the export manifest says so.

- CSV: csv.writer, a header row of column names. Spreadsheet formula injection is neutralised (OWASP "CSV
  Injection"): a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading `'`, so Excel
  or LibreOffice shows the text instead of running it. This changes such values in CSV only (JSON Lines and
  Parquet keep them exactly); `Timestamp` is written as ISO UTC with milliseconds and `Z`, NULL as empty.
- JSON Lines: one JSON object per row, `Timestamp` as `2026-11-26T12:00:00.123Z`, NULL as null.
- Parquet: one row group per page, schema `etl.schema.arrow_schema()` plus `dt` and `source` strings.

>>> neutralise_formula("=HYPERLINK(\\"http://x\\")")
'\\'=HYPERLINK("http://x")'
>>> neutralise_formula("order-1"), neutralise_formula(None)
('order-1', None)
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from etl import schema

from . import filters as _filters
from .client import AuditLogClient
from .errors import AuditQueryError
from .model import AuditLogQuery, AuditRecord, UnreadableFile

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")
EXTENSIONS: dict[str, str] = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}
COLUMN_NAMES: tuple[str, ...] = schema.ALL_COLUMN_NAMES
PENDING_COLUMN = "NotYetProcessed"
"""The export's last column: whether the row comes from the not-yet-processed tail."""
EXPORT_COLUMNS: tuple[str, ...] = (*COLUMN_NAMES, PENDING_COLUMN)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the row count, the format, the file (None for a stream) and its size, and the
    stored files it had to leave out because they could not be read (their rows are not in the export)."""

    rows: int
    format: str
    path: Path | None
    bytes_written: int | None
    unreadable: tuple[UnreadableFile, ...] = ()
    not_yet_processed: int = 0
    """Rows of the export served from raw objects no finished run had read (marked NotYetProcessed)."""


def tail_ids(client: AuditLogClient) -> frozenset[str]:
    """The Ids the client's backend serves from the not-yet-processed tail right now (empty when none)."""
    ids = getattr(client.backend, "tail_ids", None)
    return ids() if callable(ids) else frozenset()


class ExportTooLarge(AuditQueryError, ValueError):
    """The view has more rows than the caller allows; the message names the `auditlog export` command."""

    def __init__(self, count: int, max_rows: int, command: str) -> None:
        self.count = count
        self.max_rows = max_rows
        self.command = command
        super().__init__(
            f"the view has {count:,} rows, more than the {max_rows:,} allowed here; narrow the filters "
            f"or export it from the command line: {command}"
        )


def neutralise_formula(value: str | None) -> str | None:
    """Prefix `'` to text a spreadsheet would run as a formula (OWASP CSV injection rule); else unchanged."""
    if value and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def timestamp_iso(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds and 'Z' (naive values are UTC).

    >>> timestamp_iso(datetime(2026, 11, 26, 12, 0, 0, 123456))
    '2026-11-26T12:00:00.123Z'
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):  # Changes: [{"Field", "Before", "After"}, ...]
        return [dict(zip(schema.CHANGE_FIELDS, c, strict=True)) for c in value]
    return timestamp_iso(value) if isinstance(value, datetime) else value


def _cell(value: Any) -> Any:
    """A CSV cell's value: Changes as compact JSON text, else as _plain."""
    if isinstance(value, tuple):
        return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))
    return _plain(value)


def csv_cells(record: AuditRecord, pending: frozenset[str] = frozenset()) -> list[str]:
    """One CSV row: every column in order, formulas neutralised, NULL as '', then NotYetProcessed
    ("true" when the record's Id is in `pending`, else "false")."""
    out = []
    for name in COLUMN_NAMES:
        v = _cell(getattr(record, name))
        out.append("" if v is None else neutralise_formula(str(v)) or "")
    out.append("true" if record.Id in pending else "false")
    return out


def json_line(record: AuditRecord, pending: frozenset[str] = frozenset()) -> str:
    """One JSON Lines row (with its newline): every column, Timestamp as ISO UTC with 'Z', then
    NotYetProcessed (true when the record's Id is in `pending`)."""
    body = {name: _plain(getattr(record, name)) for name in COLUMN_NAMES}
    body[PENDING_COLUMN] = record.Id in pending
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_text_page(
    records: Sequence[AuditRecord], csv_writer: Any | None, out: TextIO, pending: frozenset[str]
) -> int:
    """Write one page as CSV rows (through `csv_writer`) or, without one, as JSON Lines to `out`; returns the
    number of its rows marked NotYetProcessed. The file export and `auditlog query` both write through it."""
    if csv_writer is not None:
        csv_writer.writerows(csv_cells(r, pending) for r in records)
    else:
        out.write("".join(json_line(r, pending) for r in records))
    return sum(r.Id in pending for r in records)


def export_schema() -> pa.Schema:
    """The Parquet schema of an export: the table's file schema plus `dt`, `source` and NotYetProcessed."""
    extra = [pa.field(c.name, c.arrow_type) for c in schema.PARTITION_COLUMNS]
    return pa.schema([*schema.arrow_schema(), *extra, pa.field(PENDING_COLUMN, pa.bool_(), nullable=False)])


def _arrow_page(records: list[AuditRecord], arrow: pa.Schema, pending: frozenset[str]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in EXPORT_COLUMNS}
    for r in records:
        for name in COLUMN_NAMES:
            v = getattr(r, name)
            if isinstance(v, datetime) and v.tzinfo is not None:
                v = v.astimezone(UTC).replace(tzinfo=None)
            elif isinstance(v, tuple):
                v = _plain(v)
            columns[name].append(v)
        columns[PENDING_COLUMN].append(r.Id in pending)
    return pa.Table.from_pydict(columns, schema=arrow)


def export_query(query: AuditLogQuery, page_size: int) -> AuditLogQuery:
    """The query an export walks: the same filters from the first page, `page_size` rows per page."""
    return replace(query, cursor=None, direction="next", limit=page_size)


def export_command(
    query: AuditLogQuery, fmt: str, output: str | None = None, data_dir: str | None = None
) -> str:
    """The `auditlog export ...` command line that exports `query`'s view (shell-quoted). Free-text values
    are written `--flag=value`, so one starting with '-' is not read as an option.

    >>> from datetime import date
    >>> q = AuditLogQuery(date(2026, 11, 26), date(2026, 11, 26), ("a",), actor_name="o b")
    >>> print(export_command(q, "csv", "out.csv"))
    auditlog export --from 2026-11-26 --to 2026-11-26 --source a '--actor=o b' --format csv --output out.csv
    >>> q2 = AuditLogQuery(date(2026, 11, 26), date(2026, 11, 26), ("a",), entity_id="-1")
    >>> print(export_command(q2, "jsonl", data_dir="/d"))
    auditlog export --data-dir /d --from 2026-11-26 --to 2026-11-26 --source a --entity-id=-1 ...
    """
    args = ["auditlog", "export"]
    if data_dir is not None:
        args += ["--data-dir", data_dir]
    start = query.time_from.strftime("%Y-%m-%dT%H:%M:%SZ") if query.time_from else query.date_from.isoformat()
    end = query.time_to.strftime("%Y-%m-%dT%H:%M:%SZ") if query.time_to else query.date_to.isoformat()
    args += ["--from", start, "--to", end]
    for f in _filters.FILTERS:  # the flags in filter-table order
        for v in f.values(getattr(query, f.name)):
            if f.kind == "flag":
                args.append(f.flag)
            else:
                args += [f"{f.flag}={v}"] if f.free_text and f.name != "sources" else [f.flag, v]
    if query.order != "newest":
        args += ["--order", query.order]
    args += ["--format", fmt, "--output", output or f"auditlog-export{EXTENSIONS.get(fmt, '')}"]
    return shlex.join(args)


def _pages(
    client: AuditLogClient,
    query: AuditLogQuery,
    total: int,
    max_rows: int | None,
    progress: Progress | None,
    unreadable: dict[UnreadableFile, None],
) -> Iterator[list[AuditRecord]]:
    """Each page's records (never more than `max_rows` in all); reports progress after each page and adds
    the files each page left out to `unreadable`."""
    done = 0
    if progress is not None:
        progress(0, total)
    for page in client.iter_pages(query):
        unreadable.update(dict.fromkeys(page.unreadable))
        rows = page.rows
        if max_rows is not None and done + len(rows) > max_rows:  # the data grew since the count
            rows = rows[: max_rows - done]
        if rows:
            yield rows
        done += len(rows)
        if progress is not None:
            progress(done, max(total, done))
        if max_rows is not None and done >= max_rows:
            break


def _write(
    fmt: str, out: IO[bytes], pages: Iterator[list[AuditRecord]], pending: Callable[[], frozenset[str]]
) -> tuple[int, int]:
    """Write every page; (rows, rows marked NotYetProcessed). `pending()` is asked after each page is read
    (the tail it was read with)."""
    rows = marked = 0
    if fmt == "parquet":
        arrow = export_schema()
        with pq.ParquetWriter(out, arrow, compression="zstd") as writer:
            for records in pages:
                ids = pending()
                writer.write_table(_arrow_page(records, arrow, ids), row_group_size=len(records))
                rows += len(records)
                marked += sum(r.Id in ids for r in records)
        return rows, marked
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer_ = csv.writer(text) if fmt == "csv" else None
        if writer_ is not None:
            writer_.writerow(EXPORT_COLUMNS)
        for records in pages:
            marked += write_text_page(records, writer_, text, pending())
            rows += len(records)
        text.flush()
    finally:
        text.detach()  # leave the caller's stream open
    return rows, marked


def export(
    client: AuditLogClient,
    query: AuditLogQuery,
    fmt: Format,
    destination: Path | BinaryIO,
    *,
    progress: Progress | None = None,
    max_rows: int | None = None,
    page_size: int | None = None,
) -> ExportResult:
    """Write every row of `query`'s filtered view (its cursor and limit ignored) to `destination`.

    `progress(rows_so_far, total)` is called before the first page and after each one (the total comes from
    `client.count`). With `max_rows`, a larger view raises ExportTooLarge (a ValueError) before anything is
    written. A file destination is written to a temporary file beside it and renamed at the end, so a failed
    export leaves no partial file. `page_size` defaults to the largest page (`max_limit`). The result's
    `unreadable` names the stored files that could not be read (their rows are missing from the export);
    its `not_yet_processed` counts the rows from the not-yet-processed tail (column NotYetProcessed).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format: {fmt!r} is not one of: {', '.join(FORMATS)}")
    q = export_query(query, page_size or client.settings.max_limit)
    total = client.count(q)  # validates q
    if max_rows is not None and total > max_rows:
        raise ExportTooLarge(total, max_rows, export_command(q, fmt))
    unreadable = dict.fromkeys(getattr(total, "unreadable", ()))
    pages = _pages(client, q, total, max_rows, progress, unreadable)
    if isinstance(destination, str | os.PathLike):
        path = Path(destination)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent or ".")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                rows, marked = _write(fmt, out, pages, lambda: tail_ids(client))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return ExportResult(rows, fmt, path, path.stat().st_size, tuple(unreadable), marked)
    start = destination.tell() if destination.seekable() else None
    rows, marked = _write(fmt, destination, pages, lambda: tail_ids(client))
    size = destination.tell() - start if start is not None else None
    return ExportResult(rows, fmt, None, size, tuple(unreadable), marked)


def export_bytes(
    client: AuditLogClient,
    query: AuditLogQuery,
    fmt: Format,
    *,
    max_rows: int,
    progress: Progress | None = None,
) -> bytes:
    """The export as bytes (for a download button), at most `max_rows` rows; a larger view raises
    ExportTooLarge whose message gives the `auditlog export` command line to use instead."""
    buffer = io.BytesIO()
    export(client, query, fmt, buffer, progress=progress, max_rows=max_rows)
    return buffer.getvalue()
