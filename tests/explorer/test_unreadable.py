"""Search and Entity over a data folder with one truncated Parquet file (AppTest, real DuckDB): the page
answers from the readable files and a warning names the partition it could not read, never a server path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from audit_query import AuditLogClient, AuditLogQuery, QuerySettings
from audit_query.backends.duckdb import DuckDBBackend
from explorer.fmt import escape_md
from tests.explorer.conftest import texts


def _shown(at) -> list[str]:
    return [*texts(at.warning), *texts(at.error), *texts(at.caption), *texts(at.info), *texts(at.markdown)]


def test_search_answers_and_names_the_partition_it_could_not_read(app, broken, monkeypatch):
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(broken.data_dir))
    at = app().run()
    assert not at.exception and not at.error
    warnings = [w for w in texts(at.warning) if "could not be read" in w]
    assert len(warnings) == 1 and escape_md(f"dt={broken.dt} source={broken.source}") in warnings[0]
    today = datetime.now(UTC).date()
    with DuckDBBackend(broken.data_dir) as backend:
        client = AuditLogClient(backend, QuerySettings())
        total = client.count(AuditLogQuery(today - timedelta(days=6), today, tuple(client.sources())))
    assert total > 0 and any(c.startswith(f"{total:,} matching rows") for c in texts(at.caption))
    assert not any(str(broken.data_dir) in t for t in _shown(at))


def test_entity_history_answers_and_names_the_partition_it_could_not_read(app, broken, monkeypatch):
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(broken.data_dir))
    at = app("pages/entity.py", eid=broken.entity_id).run()
    assert not at.exception and not at.error
    warnings = [w for w in texts(at.warning) if "could not be read" in w]
    assert len(warnings) == 1 and escape_md(f"dt={broken.dt} source={broken.source}") in warnings[0]
    with DuckDBBackend(broken.data_dir) as backend:
        rows = AuditLogClient(backend, QuerySettings()).history(broken.entity_id)
    assert rows and any(c.startswith(f"{len(rows)} changes to ") for c in texts(at.caption))
    assert not any(str(broken.data_dir) in t for t in _shown(at))


def test_a_page_over_readable_files_shows_no_such_warning(app):
    at = app().run()
    assert not at.exception
    assert not [w for w in texts(at.warning) if "could not be read" in w]
