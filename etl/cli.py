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
from etl.layout import add_data_dir_argument, data_dir_from
from etl.local import RunFailed, RunReport, run_all, run_days
from etl.settings import EtlSettings
from etl.watch import Watcher


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `auditlog etl [--data-dir DIR] (--date YYYY-MM-DD | --all | --watch) [--json]`."""
    parser = subparsers.add_parser("etl", help="raw events -> Parquet (local DuckDB ETL)")
    add_data_dir_argument(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--date", type=_day, help="the raw arrival day to process, YYYY-MM-DD (UTC)")
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
    if getattr(args, "watch", False):
        return watch(data_dir)
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


def watch(data_dir: Path) -> int:
    """`auditlog etl --watch`: run the watch loop (etl.watch) until SIGINT or SIGTERM; print each run's report
    as it finishes. Exit code 0 after a clean stop."""
    settings = EtlSettings.from_env()
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    def on_report(report: RunReport) -> None:
        print(_summary(data_dir, report), flush=True)

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
