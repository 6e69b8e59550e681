"""A small real data set (demo generator + local ETL, ending today) and an AppTest factory over app.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from audit_events.demo import generate_demo
from audit_query import AuditLogClient, QuerySettings
from audit_query.backends.duckdb import DuckDBBackend
from etl.local import run_all

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
SQLI_DIR = REPO / ".." / "shared" / "testdata" / "sqli"


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """3 days x 400 events ending today (UTC), through the ETL; returns (data_dir, summary, reports)."""
    data_dir = tmp_path_factory.mktemp("explorer-data")
    summary = generate_demo(data_dir, days=3, events_per_day=400, end_date=datetime.now(UTC).date(), seed=11)
    reports = run_all(data_dir)
    return data_dir, summary, reports


@pytest.fixture
def lib(demo):
    """The library's own view of the same data (the expected results)."""
    client = AuditLogClient(DuckDBBackend(demo[0]), QuerySettings())
    yield client
    client.close()


@pytest.fixture
def app(demo, monkeypatch):
    """Make an AppTest of app.py over the demo data: app(page=None, **query_params) -> AppTest (not run)."""
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(demo[0]))
    monkeypatch.delenv("AUDITLOG_USERS", raising=False)
    monkeypatch.delenv("AUDITLOG_BACKEND", raising=False)
    monkeypatch.delenv("AUDITLOG_EXPORT_MAX_ROWS", raising=False)

    def make(page: str | None = None, **params: str | list[str]) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        if page is not None:
            at.run()
            at.switch_page(page)
        for k, v in params.items():
            at.query_params[k] = v
        return at

    return make


def texts(elements) -> list[str]:
    """The `.value` of every element of a list (errors, infos, captions, markdown)."""
    return [str(e.value) for e in elements]


def widget(at: AppTest, kind: str, key: str):
    """The widget of `kind` ("text_input", "multiselect", ...) with key `key`."""
    return getattr(at, kind)(key=key)


def sqli_lines() -> list[str]:
    """Every non-empty line of the shared adversarial lists."""
    files = sorted(SQLI_DIR.glob("*.txt"))
    assert files, f"no adversarial lists in {SQLI_DIR}"
    out: list[str] = []
    for f in files:
        for line in f.read_text(encoding="utf-8").split("\n"):
            line = line.removesuffix("\r")
            if line and line not in out:
                out.append(line)
    return out
