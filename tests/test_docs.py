"""The README documents every setting the code reads, so docs and code cannot drift apart silently."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from audit_query.settings import QuerySettings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_query_setting_is_in_the_readme_with_its_help() -> None:
    for f in dataclasses.fields(QuerySettings):
        line = next((ln for ln in README.splitlines() if f"`AUDITLOG_{f.name.upper()}`" in ln), None)
        assert line is not None, f"README.md does not document AUDITLOG_{f.name.upper()}"
        assert QuerySettings.help(f.name) in line, f"README.md's help for {f.name} differs from the code"


def test_every_variable_the_code_reads_is_in_the_readme() -> None:
    read: set[str] = set()
    for folder in ("audit_query", "audit_events", "etl", "auditlog", "explorer", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"\"(AUDITLOG_[A-Z_]+)\"", path.read_text(encoding="utf-8")))
    read |= {"AUDITLOG_" + f.name.upper() for f in dataclasses.fields(QuerySettings)}
    missing = sorted(v for v in read if f"`{v}`" not in README)
    assert not missing, f"README.md does not document {missing}"
