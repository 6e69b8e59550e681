"""`auditlog etl`: run the local DuckDB ETL for one raw arrival day or for every day present."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from etl import layout
from etl.console import print_table, progress
from etl.layout import add_data_dir_argument, data_dir_from
from etl.local import RunFailed, RunReport, raw_days, run_days


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `auditlog etl [--data-dir DIR] (--date YYYY-MM-DD | --all) [--json]`."""
    parser = subparsers.add_parser("etl", help="raw events -> Parquet (local DuckDB ETL)")
    add_data_dir_argument(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=_day, help="the raw arrival day to process, YYYY-MM-DD (UTC)")
    which.add_argument("--all", action="store_true", help="process every arrival day found under raw/")
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
