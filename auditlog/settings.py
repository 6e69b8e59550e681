"""Settings shared by the command line and the explorer, each with its environment variable."""

from __future__ import annotations

import argparse
from pathlib import Path

from etl.layout import DATA_DIR_ENV, data_dir_from_env


def default_data_dir() -> Path:
    """The data folder: $AUDITLOG_DATA_DIR when set, else ./data."""
    return data_dir_from_env()


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """Give a command the common `--data-dir DIR` option."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"data folder (default: ${DATA_DIR_ENV} or ./data)",
    )


def data_dir_from(args: argparse.Namespace) -> Path:
    """The data folder a command was given, or the default."""
    return args.data_dir if getattr(args, "data_dir", None) else default_data_dir()
