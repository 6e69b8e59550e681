"""`auditlog demo` (write demo raw data) and `auditlog ingest` (validate events and write them as raw data).

Both write through `LocalFirehoseSink`, so the local ETL reads their output exactly as it reads what
Firehose delivers to S3.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit_events.contract import ContractError, envelope_from_entry, is_put_events_entry, validate_event
from audit_events.demo import generate_demo, run_live
from audit_events.sink import LocalFirehoseSink
from etl.console import print_table, progress
from etl.layout import add_data_dir_argument, data_dir_from, day_argument

INPUT_HINT = "give JSON Lines (one event per line) or one JSON array of events"


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1.

    >>> positive_int("3")
    3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` and `ingest` commands to the `auditlog` parser."""
    demo = subparsers.add_parser(
        "demo",
        help="write deterministic demo events as raw Firehose files",
        description="Simulate a shop and write its audit events as gzip NDJSON raw files (Firehose layout).",
    )
    add_data_dir_argument(demo)
    demo.add_argument("--days", type=positive_int, default=14, help="days of events, ending at --end-date")
    demo.add_argument("--events-per-day", type=positive_int, default=20000, help="valid events per day")
    demo.add_argument(
        "--end-date", type=day_argument, default=None, help="last event day, YYYY-MM-DD (default: today, UTC)"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed; the same seed writes the same data")
    demo.add_argument(
        "--live",
        action="store_true",
        help="keep publishing a realistic trickle of new events in real time (see --rate) until Ctrl-C or "
        "SIGTERM, instead of writing --days of history",
    )
    demo.add_argument(
        "--rate", type=positive_float, default=3.0, help="with --live: valid events per second (default 3)"
    )
    demo.set_defaults(func=run_demo)

    ingest = subparsers.add_parser(
        "ingest",
        help="validate events and write the valid ones as raw Firehose files",
        description="Read EventBridge events or PutEvents entries (JSON Lines or a JSON array), validate "
        "each against the contract and write the valid ones to the raw folder. Exit 0 when all were "
        "accepted, 1 when some were rejected, 2 when the input cannot be read.",
    )
    add_data_dir_argument(ingest)
    ingest.add_argument("file", metavar="FILE", help="events file, or '-' to read standard input")
    ingest.set_defaults(func=run_ingest)


def positive_float(text: str) -> float:
    """argparse type: a number greater than 0.

    >>> positive_float("2.5")
    2.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def run_live_demo(data_dir: Path, rate: float) -> int:
    """`auditlog demo --live`: publish the trickle until SIGINT or SIGTERM, then say what was written."""
    import signal
    import threading

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(
        f"auditlog demo --live: about {rate:g} events a second into {data_dir / 'raw'} (Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    try:
        summary = run_live(data_dir, rate=rate, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(
        f"auditlog demo --live: stopped; {summary.events:,} events in {summary.files:,} raw files",
        file=sys.stderr,
        flush=True,
    )
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Generate the demo data with a progress bar (plain lines when not a terminal), then a summary table."""
    data_dir = data_dir_from(args)
    if getattr(args, "live", False):
        return run_live_demo(data_dir, args.rate)
    with progress(args.days * args.events_per_day, "demo", unit="events") as advance:
        reported = 0

        def report(done: int, total: int) -> None:
            nonlocal reported
            advance(done - reported)
            reported = done

        summary = generate_demo(
            data_dir,
            days=args.days,
            events_per_day=args.events_per_day,
            end_date=args.end_date,
            seed=args.seed,
            progress=report,
        )
    print_table(
        f"Wrote {summary.events:,} events with event dates {summary.start_date} to {summary.end_date} "
        f"into {data_dir / 'raw'}",
        ["what", "count"],
        [
            ["events (what the ETL stores)", summary.events],
            ["table rows (entity items)", summary.rows],
            ["raw files", summary.files],
            ["records written", summary.records],
            ["re-deliveries (removed as duplicates)", summary.duplicates],
            ["malformed records (quarantined)", summary.malformed],
            ["events arriving on a later day", summary.late],
        ],
    )
    if summary.sample_order_ids:
        print(f"Sample order ids: {', '.join(summary.sample_order_ids)}")
    return 0


def read_text(file: str) -> tuple[str, str]:
    """The input's text and a name for messages; '-' is standard input."""
    if file == "-":
        return sys.stdin.read(), "standard input"
    path = Path(file)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise ValueError(f"cannot read {file}: no such file; give an events file, or '-' for stdin") from None
    except IsADirectoryError:
        raise ValueError(f"cannot read {file}: it is a folder; give an events file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot read {file}: not UTF-8 text ({exc.reason}); {INPUT_HINT}") from None


def parse_records(text: str, name: str) -> list[tuple[str, Any, str | None]]:
    """Split input into (label, value, error) records: one JSON array, one JSON object, or JSON Lines.

    Raises ValueError when nothing in the input is JSON.

    >>> for label, value, error in parse_records('{"a": 1}\\n\\nnope\\n[2]\\n', "x"):
    ...     print(label, value, error and error[:14])
    line 1 {'a': 1} None
    line 3 None not valid JSON
    line 4 [2] None
    >>> parse_records('[{"a": 1}, 2]', "x")
    [('record 1', {'a': 1}, None), ('record 2', 2, None)]
    """
    if not text.strip():
        raise ValueError(f"{name} is empty; {INPUT_HINT}")
    try:
        whole = json.loads(text)
    except ValueError:
        pass
    else:
        if isinstance(whole, list):
            return [(f"record {i}", value, None) for i, value in enumerate(whole, 1)]
        if isinstance(whole, dict):
            return [("record 1", whole, None)]
        raise ValueError(f"{name} holds one JSON {type(whole).__name__}, not events; {INPUT_HINT}")
    records: list[tuple[str, Any, str | None]] = []
    first_error = None
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line), None))
        except ValueError as exc:
            records.append((f"line {number}", None, f"not valid JSON: {exc}"))
            first_error = first_error or f"line {number}: {exc}"
    if all(error is not None for _, _, error in records):
        raise ValueError(f"{name} is not JSON ({first_error}); {INPUT_HINT}")
    return records


def to_envelope(value: Any, now: datetime) -> tuple[dict[str, Any] | None, list[str]]:
    """The envelope to store for one input value (a PutEvents entry is wrapped first) or its violations."""
    if is_put_events_entry(value):
        try:
            envelope = envelope_from_entry(value, now=now)
        except ContractError as exc:
            return None, [str(v) for v in exc.errors]
    else:
        envelope = value
    violations = validate_event(envelope)
    if violations:
        return None, [str(v) for v in violations]
    return envelope, []


def run_ingest(args: argparse.Namespace) -> int:
    """Validate every input record, write the valid ones, report the rejected ones; exit 1 if any."""
    text, name = read_text(args.file)
    records = parse_records(text, name)
    accepted = rejected = 0
    with LocalFirehoseSink(data_dir_from(args)) as sink:
        for label, value, error in records:
            if error is not None:
                envelope, problems = None, [error]
            else:
                envelope, problems = to_envelope(value, datetime.now(UTC))
            if envelope is None:
                rejected += 1
                print(f"{label}: rejected: {'; '.join(problems)}", file=sys.stderr)
                continue
            sink.put(envelope)
            accepted += 1
    files = ", ".join(str(p) for p in sink.written) or "no file"
    print(f"{accepted} accepted, {rejected} rejected (written to {files})", file=sys.stderr)
    return 1 if rejected else 0
