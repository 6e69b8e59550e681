"""A lookup through the run index reads only the index files whose key filter may hold the id, and what the
backend reuses (key filters, partition listings) never hides a change: a re-run's new index, a new run's file
in an old partition (audit_query/backends/keyfilter.py, DuckDBBackend._folder_files)."""

from __future__ import annotations

import os
import re
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from audit_query import AuditLogClient
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.model import AuditLogQuery
from etl import layout
from etl.local import run_etl
from tests.audit_query.conftest import SETTINGS
from tests.audit_query.test_correlation_index_backend import (
    OLD,
    OLD_REQUEST,
    RECENT,
    SOURCES,
    TODAY,
    _events,
    _oracle,
)
from tests.etl.conftest import make_event, write_raw


def _age(data_dir: Path) -> None:
    """Date every stored file and folder an hour back: settled, as a year of runs is."""
    past = time.time() - 3600
    for path in (data_dir / "analytics").rglob("*"):
        os.utime(path, (past, past))


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    for day in (OLD, *RECENT):
        write_raw(tmp_path, datetime(day.year, day.month, day.day, 23), _events(day, day == OLD))
        run_etl(tmp_path, day)
    _age(tmp_path)
    return tmp_path


def _correlation(backend: DuckDBBackend, correlation_id: str) -> list[str]:
    rows = AuditLogClient(backend, SETTINGS).correlation(
        correlation_id, date_from=TODAY - timedelta(days=399), date_to=TODAY
    )
    return [r.Id for r in rows]


def _index_files_read(backend: DuckDBBackend, monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """Each index lookup's files, recorded from here on."""
    seen: list[set[str]] = []
    real = backend._execute_raw

    def spy(sql: str):  # type: ignore[no-untyped-def]
        if layout.ENTITY_INDEX_PREFIX in sql:
            seen.append({Path(p).name for p in re.findall(r"'([^']+\.parquet)'", sql)})
        return real(sql)

    monkeypatch.setattr(backend, "_execute_raw", spy)
    return seen


def test_a_lookup_reads_only_the_index_files_that_may_hold_the_id(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DuckDBBackend(data_dir) as backend:
        assert backend.warm_index_filters() == 4
        read = _index_files_read(backend, monkeypatch)
        assert _correlation(backend, OLD_REQUEST) == _oracle(data_dir, OLD_REQUEST)[0]
        assert set().union(*read) == {f"{layout.run_id(OLD)}.parquet"}, "the other three runs are ruled out"
        read.clear()
        assert _correlation(backend, "req-nowhere") == []
        assert set().union(*read) == set()


def test_a_rewritten_index_file_is_read_not_judged_by_its_old_filter(data_dir: Path) -> None:
    day = RECENT[-1]
    with DuckDBBackend(data_dir) as backend:
        assert backend.warm_index_filters() == 4
        assert _correlation(backend, "req-new") == []
        event = make_event(9_999, time=f"{day.isoformat()}T20:00:00Z", correlation_id="req-new")
        write_raw(data_dir, datetime(day.year, day.month, day.day, 23), [event], name="new.json.gz")
        run_etl(data_dir, day)  # the day's run again: its index file is replaced under the same name
        assert _correlation(backend, "req-new") == ["ev-9999:0"]
        _age(data_dir)  # settled again, with a new mtime: its old filter still does not apply
        assert _correlation(backend, "req-new") == ["ev-9999:0"]
        backend.warm_index_filters()  # its new filter (if the lookup's background build has not made it)
        assert _correlation(backend, "req-new") == ["ev-9999:0"]


def test_a_new_runs_file_in_a_listed_partition_is_seen(data_dir: Path) -> None:
    q = AuditLogQuery(OLD, OLD, SOURCES)
    with DuckDBBackend(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        assert client.count(q) == 10  # the old day's partitions are listed (and the listing kept)
        late = date(OLD.year, OLD.month, OLD.day) + timedelta(days=5)
        event = make_event(8_888, time=f"{OLD.isoformat()}T22:00:00Z", source=SOURCES[1])
        write_raw(data_dir, datetime(late.year, late.month, late.day, 1), [event], name="late.json.gz")
        run_etl(data_dir, late)  # a late event: a new run's file in the old day's partition folder
        assert client.count(q) == 11
        assert "ev-8888:0" in [r.Id for r in client.query(q).rows]
