"""Where every file lives under a data folder or bucket (DESIGN §4). Local and S3 share these keys.

>>> from datetime import datetime, date
>>> raw_hour_prefix(datetime(2026, 11, 27, 5, 59))
'raw/year=2026/month=11/day=27/hour=05/'
>>> analytics_partition_prefix(date(2026, 11, 26), "shop.orders")
'analytics/auditlog/dt=2026-11-26/source=shop.orders/'
>>> run_id(date(2026, 11, 27))
'run-20261127'
>>> entity_index_key(date(2026, 11, 27))
'analytics/entity_index/run-20261127.parquet'
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

DATA_DIR_ENV = "AUDITLOG_DATA_DIR"

RAW_PREFIX = "raw/"
ANALYTICS_PREFIX = "analytics/auditlog/"
ENTITY_INDEX_PREFIX = "analytics/entity_index/"
"""One small Parquet file per run: which (dt, source) partitions hold each entity id or parent id. It lives
outside ANALYTICS_PREFIX, the Athena table root, so Athena never reads it as table data."""
QUARANTINE_PREFIX = "quarantine/"
REPORTS_PREFIX = "reports/"


def data_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """The local data folder: $AUDITLOG_DATA_DIR when set, else ./data (one rule for the CLI, the explorer,
    the backends and the access log).

    >>> data_dir_from_env({}).as_posix(), data_dir_from_env({"AUDITLOG_DATA_DIR": "/srv/a"}).as_posix()
    ('data', '/srv/a')
    """
    env = os.environ if environ is None else environ
    return Path(env.get(DATA_DIR_ENV) or "data")


def add_data_dir_argument(parser: argparse._ActionsContainer) -> None:
    """Give a command the common `--data-dir DIR` option (every command reads the same data folder rule)."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"data folder (default: ${DATA_DIR_ENV} or ./data)",
    )


def day_argument(text: str) -> date:
    """argparse `type=` for a UTC day given as YYYY-MM-DD (one rule for every command's date options).

    >>> day_argument("2026-11-27")
    datetime.date(2026, 11, 27)
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date written YYYY-MM-DD, got {text!r}") from None


def data_dir_from(args: argparse.Namespace) -> Path:
    """The data folder a command was given, else $AUDITLOG_DATA_DIR, else ./data."""
    return args.data_dir if getattr(args, "data_dir", None) else data_dir_from_env()


def raw_hour_prefix(arrival: datetime) -> str:
    """Firehose's arrival-time prefix: raw/year=YYYY/month=MM/day=DD/hour=HH/ (UTC)."""
    return f"{RAW_PREFIX}year={arrival:%Y}/month={arrival:%m}/day={arrival:%d}/hour={arrival:%H}/"


def raw_day_prefix(day: date) -> str:
    """All raw objects that arrived on one UTC day."""
    return f"{RAW_PREFIX}year={day:%Y}/month={day:%m}/day={day:%d}/"


def analytics_partition_prefix(dt: date, source: str) -> str:
    """Parquet partition for one event date and one source."""
    return f"{ANALYTICS_PREFIX}dt={dt:%Y-%m-%d}/source={source}/"


def run_id(arrival_day: date) -> str:
    """The id of the run that processes one raw arrival day; its output files carry it."""
    return f"run-{arrival_day:%Y%m%d}"


def run_day(run: str) -> date | None:
    """The arrival day a run id names, or None when `run` is not a run id (e.g. a file written by hand).

    >>> run_day("run-20261127"), run_day("manual-export")
    (datetime.date(2026, 11, 27), None)
    """
    if not (run.startswith("run-") and len(run) == 12 and run[4:].isdigit()):
        return None
    try:
        return datetime.strptime(run[4:], "%Y%m%d").date()
    except ValueError:
        return None


def quarantine_key(arrival_day: date) -> str:
    """Quarantined records of one run, JSON Lines with a reason each."""
    return f"{QUARANTINE_PREFIX}{run_id(arrival_day)}.jsonl"


def report_key(arrival_day: date) -> str:
    """The JSON run report of one run."""
    return f"{REPORTS_PREFIX}{run_id(arrival_day)}.json"


def entity_index_key(arrival_day: date) -> str:
    """The entity index file of one run (its keys, with the partitions that hold them)."""
    return entity_index_key_for_run(run_id(arrival_day))


def entity_index_key_for_run(run: str) -> str:
    """The entity index file of the run called `run` (e.g. 'run-20261127')."""
    return f"{ENTITY_INDEX_PREFIX}{run}.parquet"
