"""`auditlog` imports only the module of the command it runs, and its command table is complete."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from auditlog.cli import COMMANDS, build_parser


def test_the_command_table_names_exactly_what_each_module_registers() -> None:
    registered: dict[str, str] = {}
    for module in dict.fromkeys(COMMANDS.values()):
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command")
        importlib.import_module(module).register(sub)
        registered |= dict.fromkeys(sub.choices, module)
    assert registered == COMMANDS


def test_the_full_parser_still_lists_every_command() -> None:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS)


def test_verify_does_not_import_the_query_library() -> None:
    code = (
        "import sys; from auditlog.cli import main\n"
        "try:\n    main(['verify', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('audit_query.cli' in sys.modules, 'etl.verify_cli' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False True"
