"""`auditlog etl`: run the local DuckDB ETL for one raw arrival day or for every day present."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from etl import layout
from etl.layout import add_data_dir_argument, data_dir_from
from etl.local import RunFailed, RunReport, run_all, run_days


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `auditlog etl [--data-dir DIR] (--date YYYY-MM-DD | --all) [--json]`."""
    parser = subparsers.add_parser("etl", help="raw events -> Parquet (local DuckDB ETL)")
    add_data_dir_argument(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=_day, help="the raw arrival day to process, YYYY-MM-DD (UTC)")
    which.add_argument("--all", action="store_true", help="process every arrival day found under raw/")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print each run's report as one line of JSON and its path (the default output today)",
    )
    parser.set_defaults(func=run)


def _progress(stage: str, done: int, total: int) -> None:
    print(f"\retl: {stage} {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _summary(data_dir: Path, report: RunReport) -> str:
    path = data_dir / layout.report_key(date.fromisoformat(report.arrival_day))
    return json.dumps(report.to_dict(), separators=(",", ":")) + f"\nreport: {path}"


def run(args: argparse.Namespace) -> int:
    """Run the ETL the arguments ask for; print each run's report (compact JSON) and its path.

    A day that fails does not stop the others: after every day has run, the failed days are listed on stderr
    (one line each) and the exit code is 1.
    """
    data_dir = data_dir_from(args)
    try:
        if args.all:
            reports = run_all(data_dir, progress=_progress)
        else:
            reports = run_days(data_dir, [args.date], progress=_progress)
    except RunFailed as failed:
        for report in failed.reports:
            print(_summary(data_dir, report))
        print(f"auditlog etl: error: {failed}", file=sys.stderr)
        return 1
    for report in reports:
        print(_summary(data_dir, report))
    return 0
