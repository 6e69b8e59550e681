"""An exact actor over a long range reads only the data files whose actor filter (a Bloom filter of the
file's ActorName values, audit_query/backends/keyfilter.py) may hold the name: a customer seen once 300 days
ago is found without opening a year of files, with the rows a full scan gives, and a file rewritten since its
filter was built is read, not judged by the old filter (issue 13 item 5: an exact actor lifts the 7-day cap).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from audit_query import AuditLogClient
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.model import AuditLogQuery
from etl import layout
from etl.local import run_etl
from tests.audit_query.conftest import SETTINGS
from tests.audit_query.test_correlation_index_backend import OLD, RECENT, SOURCES, TODAY
from tests.audit_query.test_index_filters import _age
from tests.etl.conftest import make_event, write_raw

RARE = "zoe@example.org"


def _events(day, rare: bool) -> list[dict]:  # type: ignore[no-untyped-def]
    """Ten events a run in two sources by alice; in the old run the first one is by the rare actor."""
    return [
        make_event(
            day.toordinal() * 100 + i,
            time=f"{day.isoformat()}T{1 + i:02d}:00:00Z",
            source=SOURCES[i % 2],
            actor={"type": 1, "name": RARE if rare and i == 0 else "alice"},
        )
        for i in range(10)
    ]


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    for day in (OLD, *RECENT):
        write_raw(tmp_path, datetime(day.year, day.month, day.day, 23), _events(day, day == OLD))
        run_etl(tmp_path, day)
    _age(tmp_path)
    return tmp_path


def _oracle(data_dir: Path, actor: str) -> list[str]:
    """Ids of the actor's rows, newest first, by an independent DuckDB query over every stored file."""
    root = (data_dir / layout.ANALYTICS_PREFIX).as_posix()
    return [r[0] for r in duckdb.execute(
        f"SELECT Id FROM read_parquet('{root}/*/*/*.parquet') WHERE ActorName = $a "
        "ORDER BY Timestamp DESC, Id DESC",
        {"a": actor},
    ).fetchall()]


def _data_files_read(backend: DuckDBBackend, monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The data files each statement names, recorded from here on."""
    seen: list[set[str]] = []
    real = backend._execute_raw

    def spy(sql: str):  # type: ignore[no-untyped-def]
        seen.append({p for p in re.findall(r"'([^']+\.parquet)'", sql) if layout.ANALYTICS_PREFIX in p})
        return real(sql)

    monkeypatch.setattr(backend, "_execute_raw", spy)
    return seen


def _page(backend: DuckDBBackend, actor: str) -> list[str]:
    q = AuditLogQuery(TODAY - timedelta(days=399), TODAY, SOURCES, actor_name=actor)
    return [r.Id for r in AuditLogClient(backend, SETTINGS).query(q).rows]


def test_a_rare_actor_over_a_year_reads_only_the_files_that_may_hold_the_name(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_file = f"dt={OLD.isoformat()}/source={SOURCES[0]}/{layout.run_id(OLD)}.parquet"
    with DuckDBBackend(data_dir) as backend:
        assert backend.warm_actor_filters(TODAY - timedelta(days=399), TODAY) == 8  # 4 runs x 2 sources
        read = _data_files_read(backend, monkeypatch)
        assert _page(backend, RARE) == _oracle(data_dir, RARE) and len(_oracle(data_dir, RARE)) == 1
        assert {Path(p).relative_to(data_dir / layout.ANALYTICS_PREFIX).as_posix()
                for p in set().union(*read)} == {old_file}, "the seven other files are ruled out"
        read.clear()
        assert _page(backend, "nobody@example.org") == []
        assert set().union(*read) == set()
        assert _page(backend, "alice") == _oracle(data_dir, "alice")[:100]


def test_a_rewritten_file_is_read_not_judged_by_its_old_actor_filter(data_dir: Path) -> None:
    day = RECENT[-1]
    with DuckDBBackend(data_dir) as backend:
        backend.warm_actor_filters(TODAY - timedelta(days=399), TODAY)
        assert _page(backend, "new@example.org") == []
        event = make_event(9_999, time=f"{day.isoformat()}T20:00:00Z", source=SOURCES[1],
                           actor={"type": 1, "name": "new@example.org"})
        write_raw(data_dir, datetime(day.year, day.month, day.day, 23), [event], name="new.json.gz")
        run_etl(data_dir, day)  # the day's run again: its files are replaced under the same names
        assert _page(backend, "new@example.org") == ["ev-9999:0"]
        _age(data_dir)  # settled again, with a new mtime: its old filter still does not apply
        assert _page(backend, "new@example.org") == ["ev-9999:0"]
        backend.warm_actor_filters(TODAY - timedelta(days=399), TODAY)
        assert _page(backend, "new@example.org") == ["ev-9999:0"]
