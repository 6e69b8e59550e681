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

COMMANDS: dict[str, str] = {
    "demo": "audit_events.cli",
    "ingest": "audit_events.cli",
    "etl": "etl.cli",
    "verify": "etl.verify_cli",
    "query": "audit_query.cli",
    "export": "audit_query.cli",
    "verify-export": "audit_query.export_manifest",
}
"""Each command and the module that registers it (tests/test_cli_dispatch.py keeps this in step): a command
imports only its own module, so `auditlog verify` does not pay for the query library's imports."""
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every registered command, or with only the module that registers `command`."""
    parser = argparse.ArgumentParser(prog="auditlog", description="Audit log: demo data, ingest, ETL, query.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for name in names:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(words)
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
