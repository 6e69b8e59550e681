"""The README documents every setting the code reads, so docs and code cannot drift apart silently.

Every `Settings` class defined in our packages (found by reading the source, so a new one is covered without
editing this file) must have each of its variables in a README table row that carries its exact help text.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from etl.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PACKAGES = ("audit_query", "audit_events", "etl", "auditlog", "explorer")


def _settings_modules() -> list[str]:
    """Modules of ours whose source defines a class with `Settings` among its bases."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    (isinstance(b, ast.Name) and b.id == "Settings")
                    or (isinstance(b, ast.Attribute) and b.attr == "Settings")
                    for b in node.bases
                ):
                    rel = path.relative_to(ROOT).with_suffix("")
                    found.append(".".join(p for p in rel.parts if p != "__init__"))
                    break
    return found


def settings_classes() -> list[type[Settings]]:
    """Every Settings subclass our packages define (their modules imported), by qualified name."""
    for module in _settings_modules():
        importlib.import_module(module)
    seen: dict[str, type[Settings]] = {}
    todo = list(Settings.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES:
            seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [seen[name] for name in sorted(seen)]


CLASSES = settings_classes()


def _row(variable: str) -> str | None:
    return next((ln for ln in README.splitlines() if ln.startswith(f"| `{variable}` |")), None)


def test_the_settings_classes_are_found() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"QuerySettings", "ExplorerSettings", "AccessLogSettings"} <= names, names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_setting_is_in_the_readme_with_its_help(cls: type[Settings]) -> None:
    for name in cls.names():
        variable = cls.variable(name)
        line = _row(variable)
        assert line is not None, f"README.md has no settings row for {variable} ({cls.__name__}.{name})"
        assert cls.help(name) in line, f"README.md's help for {variable} differs from {cls.__name__}'s"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_numeric_defaults_in_the_readme_match_the_code(cls: type[Settings]) -> None:
    defaults = cls()
    for name in cls.names():
        value = getattr(defaults, name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        line = _row(cls.variable(name))
        assert line is not None
        cell = line.split("|")[2].strip()
        said = f"README.md says {cls.variable(name)} defaults to {cell}, the code {value}"
        assert cell == str(value) or cell.startswith(f"{value} "), said


def test_every_variable_the_code_reads_is_in_the_readme() -> None:
    read: set[str] = set()
    for folder in (*PACKAGES, "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"\"(AUDITLOG_[A-Z_]+)\"", path.read_text(encoding="utf-8")))
    read |= {cls.variable(name) for cls in CLASSES for name in cls.names()}
    missing = sorted(v for v in read if f"`{v}`" not in README)
    assert not missing, f"README.md does not document {missing}"
