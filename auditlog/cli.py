"""`auditlog` entry point. Each package registers its own commands; this module only dispatches.

A command module exposes `register(subparsers)`, adding parsers whose `func(args) -> int` runs the
command. Errors a user can fix (ValueError and its subclasses, OSError) print one line on stderr and exit 2:
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "audit_events.cli",
    "etl.cli",
    "etl.verify_cli",
    "audit_query.cli",
    "audit_query.export_manifest",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every registered command."""
    parser = argparse.ArgumentParser(prog="auditlog", description="Audit log: demo data, ingest, ETL, query.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("auditlog: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"auditlog {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
