"""The not-yet-processed tail (issue 12, item 2, library part): rows of waiting raw objects by the ETL's own
rules, and the handover to stored rows with no duplicate and no gap."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from audit_query.tail import data_version, tail_table
from etl import layout, local
from etl.local import run_etl
from tests.etl.conftest import make_event, write_raw

DAY = date(2026, 11, 27)
ARRIVAL = datetime(2026, 11, 27, 4)


def _stored_ids(data_dir: Path) -> list[str]:
    glob = str(data_dir / layout.ANALYTICS_PREFIX / "**" / "*.parquet")
    return sorted(r[0] for r in duckdb.sql(f"SELECT Id FROM read_parquet('{glob}')").fetchall())


def _tail_ids(data_dir: Path) -> list[str]:
    return sorted(tail_table(data_dir, DAY).column("Id").to_pylist())


def test_the_tail_is_what_the_etl_will_store_by_the_same_rules(tmp_path: Path) -> None:
    write_raw(tmp_path, ARRIVAL, [make_event(1)], name="a.json.gz")
    run_etl(tmp_path, DAY)
    # A waiting object: a good event, a re-delivery of it, a stored event again, and one the rules quarantine.
    write_raw(tmp_path, ARRIVAL, [make_event(2), make_event(2), make_event(1), "{bad"], name="b.json.gz")
    tail = tail_table(tmp_path, DAY)
    assert tail.column("Id").to_pylist() == ["ev-2:0"]
    assert tail.column("EntityId").to_pylist() == ["o-2"]
    assert tail.column("source").to_pylist() == ["shop.orders"]
    expected = {k: v for k, v in tail.to_pylist()[0].items() if k != "dt"}
    run_etl(tmp_path, DAY)
    assert _tail_ids(tmp_path) == []
    glob = str(tmp_path / layout.ANALYTICS_PREFIX / "**" / "*.parquet")
    stored = duckdb.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true) WHERE Id = 'ev-2:0'")
    row = dict(zip(stored.columns, stored.limit(1).fetchall()[0], strict=True))
    assert {k: row[k] for k in expected} == expected  # the tail row is the stored row, column for column


def test_an_object_landing_while_a_run_reads_is_in_the_tail_then_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_raw(tmp_path, ARRIVAL, [make_event(1)], name="a.json.gz")
    real = local._lines_table
    seen: dict[str, list[str]] = {}

    def reading(*args: object, **kwargs: object) -> object:
        table = real(*args, **kwargs)  # type: ignore[arg-type]
        write_raw(tmp_path, ARRIVAL, [make_event(2)], name="b.json.gz")  # lands after the listing
        return table

    def manifest_step(*args: object, **kwargs: object) -> str:
        # The exact boundary: the run's files are swapped in, its manifest not yet written.
        seen["stored"], seen["tail"] = _stored_ids(tmp_path), _tail_ids(tmp_path)
        return real_manifest(*args, **kwargs)  # type: ignore[arg-type]

    real_manifest = local.write_local_manifest
    monkeypatch.setattr(local, "_lines_table", reading)
    monkeypatch.setattr(local, "write_local_manifest", manifest_step)
    run_etl(tmp_path, DAY)
    monkeypatch.undo()
    # At the boundary and after it: every event once, stored or in the tail, never both, never neither.
    assert seen == {"stored": ["ev-1:0"], "tail": ["ev-2:0"]}
    assert (_stored_ids(tmp_path), _tail_ids(tmp_path)) == (["ev-1:0"], ["ev-2:0"])
    assert len(data_version(tmp_path, now=ARRIVAL).waiting_objects) == 1
    run_etl(tmp_path, DAY)
    assert (_stored_ids(tmp_path), _tail_ids(tmp_path)) == (["ev-1:0", "ev-2:0"], [])
    assert data_version(tmp_path, now=ARRIVAL).waiting_objects == ()


def test_a_day_with_nothing_waiting_has_an_empty_tail_with_the_stored_columns(tmp_path: Path) -> None:
    tail = tail_table(tmp_path, DAY)
    assert tail.num_rows == 0 and tail.column_names[-2:] == ["dt", "source"] and "Id" in tail.column_names


def _events(data_dir: Path, names: str, first: int) -> None:
    """One raw object per letter of `names`, one event each (numbers from `first`), at 10:<number>."""
    for i, name in enumerate(names):
        n = first + i
        event = make_event(n, time=f"2026-11-27T10:{n:02d}:00.000Z")
        write_raw(data_dir, ARRIVAL, [event], name=f"{name}.json.gz")


def test_queries_serve_the_tail_beside_stored_rows_then_hand_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit_query.tail as tail_mod
    from audit_query import AuditLogClient, AuditLogQuery, QuerySettings
    from audit_query.backends.duckdb import DuckDBBackend

    real_version = tail_mod.data_version
    # The tail covers yesterday and today: pin "now" to the arrival day.
    monkeypatch.setattr(tail_mod, "data_version", lambda d, now=None: real_version(d, now=ARRIVAL))
    _events(tmp_path, "ab", 1)
    run_etl(tmp_path, DAY)
    _events(tmp_path, "cd", 3)  # waiting: two events newer than the stored two
    settings = QuerySettings()
    orders = ("shop.orders",)
    with DuckDBBackend(tmp_path, settings=settings, serve_tail=True) as backend:
        client = AuditLogClient(backend, settings)
        q = AuditLogQuery(DAY, DAY, orders, limit=1)
        assert client.count(q) == 4
        assert backend.tail_ids() == {"ev-3:0", "ev-4:0"}
        # Paging forward then back across the tail/stored boundary: every row once, in order.
        seen, page = [], client.query(q)
        while True:
            seen.extend(r.Id for r in page.rows)
            if page.next_cursor is None:
                break
            page = client.query(AuditLogQuery(DAY, DAY, orders, limit=1, cursor=page.next_cursor))
        assert seen == ["ev-4:0", "ev-3:0", "ev-2:0", "ev-1:0"]
        back = []
        while page.prev_cursor is not None:
            prev = AuditLogQuery(DAY, DAY, orders, limit=1, cursor=page.prev_cursor, direction="prev")
            page = client.query(prev)
            back.extend(r.Id for r in page.rows)
        assert back == ["ev-2:0", "ev-3:0", "ev-4:0"]
        assert [r.Id for r in client.history("o-3", date_from=DAY, date_to=DAY)] == ["ev-3:0"]
        run_etl(tmp_path, DAY)
        assert client.count(q) == 4  # now all stored: no duplicate, no gap
        assert backend.tail_ids() == frozenset()
    with DuckDBBackend(tmp_path, settings=settings) as plain:  # not served unless asked for
        _events(tmp_path, "e", 5)
        assert AuditLogClient(plain, settings).count(AuditLogQuery(DAY, DAY, orders)) == 4


def test_a_source_whose_first_events_wait_is_listed_with_the_stored_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit_query.tail as tail_mod
    from audit_query import AuditLogClient, QuerySettings
    from audit_query.backends.duckdb import DuckDBBackend

    real_version = tail_mod.data_version
    monkeypatch.setattr(tail_mod, "data_version", lambda d, now=None: real_version(d, now=ARRIVAL))
    _events(tmp_path, "ab", 1)
    run_etl(tmp_path, DAY)
    # a brand-new source: its first event is waiting, no run has made its partition folder yet
    write_raw(tmp_path, ARRIVAL, [make_event(3, source="billing")], name="c.json.gz")
    settings = QuerySettings()
    with DuckDBBackend(tmp_path, settings=settings, serve_tail=True) as backend:
        assert backend.list_sources() == ["billing", "shop.orders"]
        assert AuditLogClient(backend, settings).sources() == ["billing", "shop.orders"]
    with DuckDBBackend(tmp_path, settings=settings) as plain:  # no tail served: its sources are not listed
        assert plain.list_sources() == ["shop.orders"]
