"""`auditlog etl`: run the local DuckDB ETL for one raw arrival day or for every day present."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import date
from pathlib import Path

from etl import layout
from etl.console import print_table, progress
from etl.layout import add_data_dir_argument, data_dir_from, day_argument
from etl.local import RunFailed, RunReport, raw_days, run_days
from etl.settings import EtlSettings
from etl.watch import Watcher


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `auditlog etl [--data-dir DIR] (--date YYYY-MM-DD | --all | --watch) [--json]`."""
    parser = subparsers.add_parser("etl", help="raw events -> Parquet (local DuckDB ETL)")
    add_data_dir_argument(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=day_argument, help="the raw arrival day to process, YYYY-MM-DD (UTC)")
    which.add_argument("--all", action="store_true", help="process every arrival day found under raw/")
    which.add_argument(
        "--watch",
        action="store_true",
        help="keep running: re-run today whenever new raw objects land (every "
        "AUDITLOG_ETL_WATCH_INTERVAL_SECONDS at most) and each finished day once more after UTC midnight; "
        "stops on Ctrl-C or SIGTERM",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each run's report as one line of JSON and its path (for scripts) instead of the table",
    )
    parser.set_defaults(func=run)


def _summary(data_dir: Path, report: RunReport) -> str:
    path = data_dir / layout.report_key(date.fromisoformat(report.arrival_day))
    return json.dumps(report.to_dict(), separators=(",", ":")) + f"\nreport: {path}"


SUMMARY_HEADERS = (
    "day",
    "events in",
    "rows out",
    "duplicates",
    "late rows",
    "seconds",
    "quarantined",
    "quarantine reasons",
)


def summary_rows(reports: list[RunReport], seconds: dict[str, float] | None = None) -> list[list[object]]:
    """One table row per run: the counts a person checks, quarantine broken down by reason, and the run's
    wall-clock seconds (`seconds` by arrival day; empty when unknown).

    >>> r = RunReport(run_id="run-20261127", arrival_day="2026-11-27", engine="duckdb",
    ...     started_at="2026-11-28T00:00:00Z", finished_at="2026-11-28T00:00:02.5Z", files_in=1,
    ...     events_in=10, quarantined=2, duplicates_removed=1, events_stored=7, rows_out=9, late_rows=0,
    ...     max_event_time=None, partitions=[], index_file=None, quarantine_reasons={"invalid_json": 2})
    >>> summary_rows([r], {"2026-11-27": 2.5})
    [['2026-11-27', 10, 9, 1, 0, 2.5, 2, 'invalid_json 2']]
    """
    rows: list[list[object]] = []
    for r in sorted(reports, key=lambda r: r.arrival_day):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.quarantine_reasons.items()))
        objects = len(getattr(r, "quarantined_objects", None) or [])
        if objects:
            reasons = ", ".join(filter(None, [reasons, f"{objects} unreadable object(s)"]))
        took = (seconds or {}).get(r.arrival_day)
        counts = [r.events_in, r.rows_out, r.duplicates_removed, r.late_rows, took, r.quarantined]
        rows.append([r.arrival_day, *counts, reasons])
    return rows


def run(args: argparse.Namespace) -> int:
    """Run the ETL the arguments ask for: a progress bar over the days, then a summary table (`--json`: each
    run's report as one line of compact JSON and its path, as scripts read it).

    A day that fails does not stop the others: after every day has run, the failed days are listed on stderr
    (one line each) and the exit code is 1.
    """
    data_dir = data_dir_from(args)
    if getattr(args, "watch", False):
        return watch(data_dir, as_json=args.json)
    days = raw_days(data_dir) if args.all else [args.date]
    if args.all and not days:
        raise ValueError(f"no raw .gz objects under {Path(data_dir) / layout.RAW_PREFIX}")
    failed: RunFailed | None = None
    took: dict[str, float] = {}

    with progress(len(days), "etl", unit="days") as advance:

        def done(day: date, _result: object, seconds: float) -> None:
            took[day.isoformat()] = round(seconds, 1)
            advance()

        try:
            reports = run_days(data_dir, days, day_done=done)
        except RunFailed as exc:
            failed, reports = exc, exc.reports
    if args.json:
        for report in reports:
            print(_summary(data_dir, report))
    elif reports:
        print_table("ETL runs", SUMMARY_HEADERS, summary_rows(reports, took))
        print(f"reports: {data_dir / layout.REPORTS_PREFIX}")
    if failed is not None:
        print(f"auditlog etl: error: {failed}", file=sys.stderr)
        return 1
    return 0


def one_line(report: RunReport) -> str:
    """A run in one line, for the watch loop's output.

    >>> r = RunReport(run_id="run-20261127", arrival_day="2026-11-27", engine="duckdb", started_at="",
    ...     finished_at="2026-11-27T10:00:05Z", files_in=3, events_in=10, quarantined=1, duplicates_removed=0,
    ...     events_stored=9, rows_out=12, late_rows=0, max_event_time=None, partitions=[], index_file=None,
    ...     quarantine_reasons={"invalid_json": 1})
    >>> one_line(r)
    'run-20261127: 10 events in, 12 rows out, 1 quarantined (invalid_json 1), 0 duplicates, 3 objects'
    """
    def n(count: int, word: str) -> str:
        return f"{count:,} {word}" + ("" if count == 1 else "s")

    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.quarantine_reasons.items()))
    quarantined = f"{report.quarantined:,} quarantined" + (f" ({reasons})" if reasons else "")
    return (
        f"{report.run_id}: {n(report.events_in, 'event')} in, {n(report.rows_out, 'row')} out, "
        f"{quarantined}, {n(report.duplicates_removed, 'duplicate')}, {n(report.files_in, 'object')}"
    )


def watch(data_dir: Path, *, as_json: bool = False) -> int:
    """`auditlog etl --watch`: run the watch loop (etl.watch) until SIGINT or SIGTERM; print each run as it
    finishes (one line; `--json`: its report line). Exit code 0 after a clean stop."""
    settings = EtlSettings.from_env()
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    def on_report(report: RunReport) -> None:
        print(_summary(data_dir, report) if as_json else one_line(report), flush=True)

    watcher = Watcher(data_dir, settings=settings, stop=stop, on_report=on_report)
    print(
        f"auditlog etl --watch: watching {data_dir / layout.RAW_PREFIX} every "
        f"{settings.watch_interval_seconds:g} s (Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    try:
        watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"auditlog etl --watch: stopped after {watcher.runs} run(s)", file=sys.stderr, flush=True)
    return 0
