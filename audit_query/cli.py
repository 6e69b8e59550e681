"""`auditlog query` and `auditlog export`: the filtered view from the command line.

Both share one set of filter flags (`add_filter_arguments`, `query_from_args`). The backend comes from
`--data-dir` (DuckDB over that folder) or, without it, from the environment (`backend_from_env`:
AUDITLOG_BACKEND=duckdb|athena). Validation errors are ValueErrors, printed by the dispatcher in
auditlog/cli.py as one line (exit 2); engine errors print one line here (exit 1). Never a traceback.

    auditlog query --from 2026-11-20 --to 2026-11-26 --source shop.orders --actor alice --format table
    auditlog export --from 2026-11-20 --source shop.orders --format parquet --output orders.parquet
"""

from __future__ import annotations

import argparse
import csv
import getpass
import os
import socket
import sys
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO, cast

from audit_events.access import AccessAction, AccessLogError, access_detail, recorder_from_env
from etl.layout import add_data_dir_argument

from . import filters as _filters
from .backends import backend_from_env
from .client import AuditLogClient
from .errors import BackendError, QueryValidationError
from .export import (
    EXPORT_COLUMNS,
    FORMATS,
    PENDING_COLUMN,
    export,
    tail_ids,
    timestamp_iso,
    write_text_page,
)
from .masking import MaskedClient, MaskingRules
from .model import (
    ORDERS,
    RELATIVE_RANGES,
    AuditLogQuery,
    AuditRecord,
    Page,
    UnreadableFile,
    parse_when,
    relative_range,
)
from .settings import QuerySettings

#: Columns of the readable table, and the widest a cell may be (longer text is cut with '…').
TABLE_COLUMNS: tuple[str, ...] = (
    "Timestamp",
    "Id",
    "source",
    "EntityType",
    "EntityId",
    "EntityParentId",
    "Action",
    "ActorType",
    "ActorName",
    "CorrelationId",
    "Before",
    "After",
)
MAX_CELL = 40


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the filter flags shared by `query` and `export` (one per AuditLogQuery field)."""
    g = parser.add_argument_group("filters (dates and times are inclusive, UTC)")
    g.add_argument(
        "--from",
        dest="date_from",
        metavar="WHEN",
        help="first day (YYYY-MM-DD) or first second (YYYY-MM-DDTHH:MM:SS, UTC)",
    )
    g.add_argument(
        "--to",
        dest="date_to",
        metavar="WHEN",
        help="last day or last second, inclusive (default: the end of --from's day)",
    )
    g.add_argument(
        "--last",
        choices=tuple(RELATIVE_RANGES),
        help="instead of --from/--to: the last 15 minutes, hour, 24 hours, 7 days or 30 days up to now",
    )
    for f in _filters.FILTERS:  # one flag per row of the filter table
        if f.many:
            g.add_argument(f.flag, dest=f.name, action="append", metavar=f.metavar, help=f.help)
        elif f.kind == "flag":
            g.add_argument(f.flag, dest=f.name, action="store_true", help=f.help)
        else:
            g.add_argument(f.flag, dest=f.name, metavar=f.metavar, help=f.help)
    g.add_argument("--limit", type=int, metavar="N", help="rows per page (default: the library's default)")
    g.add_argument(
        "--order", choices=ORDERS, default=ORDERS[0], help="newest or oldest rows first (default: newest)"
    )


def query_from_args(
    args: argparse.Namespace, discovered: Sequence[str] = (), settings: QuerySettings | None = None
) -> AuditLogQuery:
    """The AuditLogQuery the filter flags describe; `discovered` sources (already without the explorer's
    access events unless asked for: `_build`) apply when no --source is given, and `settings.default_limit`
    when no --limit is.

    Bad values raise QueryValidationError (a ValueError) naming the field and the rule.
    """
    limit = args.limit if args.limit is not None else (settings or QuerySettings()).default_limit
    values: dict[str, Any] = {}
    for f in _filters.FILTERS:
        value = getattr(args, f.name)
        values[f.name] = tuple(value or ()) if f.many else value
    values["sources"] = values["sources"] or tuple(discovered)
    order = getattr(args, "order", None) or ORDERS[0]
    return AuditLogQuery(**when_from_args(args), limit=limit, order=order, **values)


def when_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The dates (and times of day, when a date-time or --last is given) of `--from/--to/--last`."""
    if getattr(args, "last", None):
        if args.date_from or args.date_to:
            raise QueryValidationError("last", "exclusive", "give either --last or --from/--to, not both")
        first, last = relative_range(args.last)
        return {"date_from": first.date(), "date_to": last.date(), "time_from": first, "time_to": last}
    if not args.date_from:
        raise QueryValidationError("date_from", "required", "give --from (a date or date-time) or --last")
    start = parse_when(args.date_from, "date_from")
    end = parse_when(args.date_to, "date_to") if args.date_to else _day(start)
    out: dict[str, Any] = {"date_from": _day(start), "date_to": _day(end)}
    if isinstance(start, datetime):
        out["time_from"] = start
    if isinstance(end, datetime):
        out["time_to"] = end
    return out


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value

def client_from_args(args: argparse.Namespace) -> AuditLogClient | MaskedClient:
    """A client over DuckDB in `--data-dir` when given, else over the backend the environment names; masked
    by AUDITLOG_MASKING_RULES unless `--role pii` was given. Rows of raw objects no finished run has read
    yet (the tail, issue 12) are included, marked NotYetProcessed."""
    settings = QuerySettings.from_env()
    rules = None if "pii" in (getattr(args, "roles", None) or ()) else MaskingRules.from_settings()
    if getattr(args, "data_dir", None):
        from .backends.duckdb import DuckDBBackend

        client = AuditLogClient(DuckDBBackend(args.data_dir, settings=settings, serve_tail=True), settings)
    else:
        client = AuditLogClient(backend_from_env(serve_tail=True), settings)
    return client if rules is None else MaskedClient(client, rules)


def add_role_argument(parser: argparse.ArgumentParser) -> None:
    """`--role pii`: read personal data unmasked (without it, AUDITLOG_MASKING_RULES applies)."""
    parser.add_argument(
        "--role",
        dest="roles",
        action="append",
        choices=("pii",),
        help="pii: show personal data unmasked (default: masked as AUDITLOG_MASKING_RULES says)",
    )


def record_access(
    args: argparse.Namespace,
    action: AccessAction,
    q: AuditLogQuery,
    rows: int,
    fmt: str,
    client: AuditLogClient,
) -> None:
    """Record this command's read as an access event (the OS user, this host, whether masking applied), in
    the same access log the explorer writes; AccessLogError when it cannot be stored."""
    env = dict(os.environ)
    if getattr(args, "data_dir", None):
        env["AUDITLOG_DATA_DIR"] = str(args.data_dir)
    filters = {k: v for k, v in q.filters().items() if v not in (None, [], False, "")}
    try:
        detail = access_detail(
            action,
            user=getpass.getuser(),
            view=f"cli-{args.command}",
            filters=filters,
            rows=rows,
            fmt=fmt,
            session_id=f"cli-{uuid.uuid4()}",
            masked=isinstance(client, MaskedClient),
            host=socket.gethostname(),
        )
        recorder_from_env(env).record(detail)
    except AccessLogError:
        raise
    except Exception as exc:  # a misconfigured access log: still "not recorded"
        raise AccessLogError(str(exc) or type(exc).__name__) from exc


def _build(args: argparse.Namespace, client: AuditLogClient | MaskedClient) -> AuditLogQuery:
    discovered: tuple[str, ...] = ()
    if not args.sources:
        discovered = client.default_sources(args.include_explorer_events)
        if not discovered and client.sources():
            raise QueryValidationError(
                "sources",
                "required",
                f"only the explorer's own access events ({_filters.EXPLORER_SOURCE}) have data; add "
                f"--include-explorer-events or --source {_filters.EXPLORER_SOURCE}",
            )
    q = query_from_args(args, discovered, client.settings)
    return q.validate(client.settings)


def printable(value: object, width: int | None = None) -> str:
    """A value as one line of terminal-safe text: control characters escaped, cut to `width` with '…'.

    >>> print(printable("a\\x1b[31mb\\nc d e", 13))
    a\\x1b[31mb\\n…
    """
    if value is None:
        return ""
    text = timestamp_iso(cast(datetime, value)) if hasattr(value, "astimezone") else str(value)
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    line = "".join(out)
    if width is not None and len(line) > width:
        line = line[: width - 1] + "…"
    return line


def column_widths(records: Sequence[AuditRecord]) -> dict[str, int]:
    """Each readable column's width: its longest cell or header, at most MAX_CELL."""
    widths = {
        c: min(MAX_CELL, max([len(c), *(len(printable(getattr(r, c))) for r in records)]))
        for c in TABLE_COLUMNS
    }
    widths[PENDING_COLUMN] = len(PENDING_COLUMN)
    return widths


def table_lines(
    records: Sequence[AuditRecord],
    widths: dict[str, int] | None = None,
    pending: frozenset[str] = frozenset(),
) -> list[str]:
    """Aligned rows (header first when `widths` is None) of the readable columns, long cells cut, and last
    NotYetProcessed: "yes" for a row whose Id is in `pending` (from a raw object no run has read yet)."""
    header = widths is None
    if widths is None:
        widths = column_widths(records)
    names = (*TABLE_COLUMNS, PENDING_COLUMN)
    lines = []
    if header:
        lines.append("  ".join(c.ljust(widths[c]) for c in names).rstrip())
        lines.append("  ".join("-" * widths[c] for c in names))
    for r in records:
        cells = [printable(getattr(r, c), widths[c]).ljust(widths[c]) for c in TABLE_COLUMNS]
        cells.append("yes" if r.Id in pending else "")
        lines.append("  ".join(cells).rstrip())
    return lines


def _write_rows(
    pages: Iterable[Sequence[AuditRecord]], fmt: str, out: TextIO, pending: Callable[[], frozenset[str]]
) -> tuple[int, int]:
    """Write the pages as `fmt`; (rows, rows marked NotYetProcessed)."""
    n = marked = 0
    widths: dict[str, int] | None = None
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(EXPORT_COLUMNS)
    for records in pages:
        ids = pending()
        if fmt == "table":
            if widths is None:
                out.write("\n".join(table_lines(records, None, ids)) + "\n")
                widths = column_widths(records)
            elif records:
                out.write("\n".join(table_lines(records, widths, ids)) + "\n")
            marked += sum(r.Id in ids for r in records)
        else:
            marked += write_text_page(records, writer, out, ids)
        n += len(records)
    return n, marked


def warn_unreadable(unreadable: Iterable[UnreadableFile], command: str) -> None:
    """Say on stderr which partitions a read left out because a stored file could not be read."""
    for u in dict.fromkeys(unreadable):
        print(
            f"auditlog {command}: warning: could not read {u.label} ({u.file}); its rows are left out",
            file=sys.stderr,
        )


def run_query(args: argparse.Namespace) -> int:
    """`auditlog query`: the first page (or every page with --all) of the view on stdout."""
    client = client_from_args(args)
    left_out: list[UnreadableFile] = []

    def rows_of(pages: Iterable[Page]) -> Iterator[list[AuditRecord]]:
        for p in pages:
            left_out.extend(p.unreadable)
            yield p.rows

    try:
        q = _build(args, client)
        def pending() -> frozenset[str]:
            return tail_ids(client)

        if args.all:
            n, marked = _write_rows(rows_of(client.iter_pages(q)), args.format, sys.stdout, pending)
            more = False
        else:
            page = client.query(q)
            n, marked = _write_rows(rows_of([page]), args.format, sys.stdout, pending)
            more = page.has_more
        try:
            record_access(args, "Read", q, n, args.format, client)
        except AccessLogError as exc:
            print(
                f"auditlog query: warning: this read could not be recorded in the audit log: {exc}",
                file=sys.stderr,
            )
    except BackendError as exc:
        print(f"auditlog query: error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    warn_unreadable(left_out, "query")
    if marked:
        print(
            f"{marked} of these rows are not yet processed (column {PENDING_COLUMN}): from raw objects no "
            "finished ETL run has read; a run stores them unchanged",
            file=sys.stderr,
        )
    if more:
        print(f"{n} rows shown; more match: add --all, or use `auditlog export`", file=sys.stderr)
    elif n == 0:
        print("no rows match; widen the date range or the filters", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    """`auditlog export`: every page of the view to --output, progress on stderr."""
    client = client_from_args(args)
    output: Path = args.output
    tty = sys.stderr.isatty()

    def progress(done: int, total: int | None) -> None:
        end = "\r" if tty else "\n"
        of = f"{total:,}" if total is not None else "?"
        print(f"exporting: {done:,} / {of} rows", end=end, file=sys.stderr)

    try:
        q = _build(args, client)
        result = export(client, q, args.format, output, progress=progress, page_size=args.limit)
        try:
            record_access(args, "Export", q, result.rows, args.format, client)
        except AccessLogError as exc:
            output.unlink(missing_ok=True)  # no unaudited exports, as in the explorer
            print(
                f"auditlog export: error: the export was removed because it could not be recorded in "
                f"the audit log: {exc}",
                file=sys.stderr,
            )
            return 1
    except BackendError as exc:
        print(f"auditlog export: error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if tty:
        print(file=sys.stderr)
    warn_unreadable(result.unreadable, "export")
    print(f"{result.rows} rows -> {output}", file=sys.stderr)
    if result.not_yet_processed:
        print(
            f"{result.not_yet_processed} of them not yet processed (column {PENDING_COLUMN} true): from raw "
            "objects no finished ETL run has read",
            file=sys.stderr,
        )
    if args.manifest:  # a signed sidecar: audit_query/export_manifest.py
        from etl.layout import data_dir_from

        from .export_manifest import manifests_tree, write_export_manifest

        tree = manifests_tree(data_dir_from(args), client.settings.analytics_s3_uri)
        data_dir = str(args.data_dir) if args.data_dir else None
        sidecar = write_export_manifest(result, q, tree=tree, data_dir=data_dir)
        print(f"manifest -> {sidecar}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    """Add `query` and `export` to the auditlog command line."""
    query = subparsers.add_parser(
        "query",
        help="print one page of the filtered audit log",
        description="Print the newest (or, with --order oldest, the oldest) rows matching the filters (one "
        f"page; --all for every page). Without --source, every source but the explorer's own access events "
        f"({_filters.EXPLORER_SOURCE}; --include-explorer-events adds them).",
    )
    add_data_dir_argument(query)
    add_filter_arguments(query)
    add_role_argument(query)
    query.add_argument("--format", choices=("table", "csv", "jsonl"), default="table", help="default: table")
    query.add_argument("--all", action="store_true", help="follow every page, not just the first")
    query.set_defaults(func=run_query)

    exp = subparsers.add_parser(
        "export",
        help="write every row of the filtered audit log to a file",
        description="Write every page of the filtered view to CSV, JSON Lines or Parquet "
        "(--limit: page size; CSV cells starting with = + - @ tab or CR get a leading ' so that "
        "spreadsheets do not run them).",
    )
    add_data_dir_argument(exp)
    add_filter_arguments(exp)
    add_role_argument(exp)
    exp.add_argument("--format", choices=FORMATS, required=True)
    exp.add_argument("--output", type=Path, required=True, metavar="FILE")
    sidecar = "also write FILE.manifest.json, signed (check it with auditlog verify-export FILE)"
    exp.add_argument("--manifest", action="store_true", help=sidecar)
    exp.set_defaults(func=run_export)
