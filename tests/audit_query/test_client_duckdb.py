"""AuditLogClient over DuckDB and real Parquet: filters, counts, history, correlation, sources, empty data."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date
from pathlib import Path

import pytest

from audit_query import (
    Action,
    AuditLogClient,
    AuditLogQuery,
    AuditRecord,
    BackendError,
    QueryValidationError,
)
from audit_query.backends import Backend
from audit_query.backends.duckdb import DuckDBBackend
from etl import schema

from .conftest import SETTINGS, SOURCES, make_row, write_rows

D1, D3 = date(2026, 11, 24), date(2026, 11, 26)


def ids(records: list[AuditRecord]) -> list[str]:
    return [r.Id for r in records]


def newest_first(rows: list[dict]) -> list[str]:
    return [r["Id"] for r in sorted(rows, key=lambda r: (r["Timestamp"], r["Id"]), reverse=True)]


def test_backend_satisfies_the_protocol(backend: DuckDBBackend) -> None:
    assert isinstance(backend, Backend) and backend.dialect == "duckdb"


def test_records_are_typed_and_complete(client: AuditLogClient, rows: list[dict]) -> None:
    page = client.query(AuditLogQuery(D3, D3, ("shop.orders",), limit=1))
    (rec,) = page.rows
    assert list(rec.to_dict()) == list(schema.ALL_COLUMN_NAMES)
    assert rec.Timestamp.tzinfo is UTC and rec.dt == "2026-11-26" and rec.source == "shop.orders"
    original = next(r for r in rows if r["Id"] == rec.Id)
    assert rec.After == original["After"] == '{"a":"x\\"y"}'
    assert rec.Timestamp.replace(tzinfo=None) == original["Timestamp"]
    assert page.stats is not None and page.stats.elapsed_ms is not None


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({"actions": ("Update", "Delete")}, lambda r: r["Action"] in ("Update", "Delete")),
        ({"actor_types": ("Service",)}, lambda r: r["ActorType"] == "Service"),
        ({"actor_name": "alice"}, lambda r: r["ActorName"] == "alice"),
        ({"entity_types": ("OrderLine",)}, lambda r: r["EntityType"] == "OrderLine"),
        ({"channel_codes": ("web",)}, lambda r: r["ChannelCode"] == "web"),
        ({"correlation_id": "corr-A"}, lambda r: r["CorrelationId"] == "corr-A"),
        ({"entity_id": "order-1"}, lambda r: r["EntityId"] == "order-1"),
        (
            {"entity_id": "order-1", "include_children": True},
            lambda r: "order-1" in (r["EntityId"], r["EntityParentId"]),
        ),
        (
            {"sources": ("billing",), "date_to": date(2026, 11, 25)},
            lambda r: r["source"] == "billing" and r["dt"] <= "2026-11-25",
        ),
    ],
)
def test_filters_return_what_the_rows_say(
    client: AuditLogClient, rows: list[dict], filters: dict, predicate
) -> None:
    kw = {"date_from": D1, "date_to": D3, "sources": SOURCES, "limit": 1000, **filters}
    q = AuditLogQuery(**kw)
    in_scope = [
        r
        for r in rows
        if r["source"] in q.sources and q.date_from.isoformat() <= r["dt"] <= q.date_to.isoformat()
    ]
    want = newest_first([r for r in in_scope if predicate(r)])
    assert want, "the fixture must match"
    assert ids(client.query(q).rows) == want
    assert client.count(q) == len(want)


def test_counts_by_day_and_by_two_groups(client: AuditLogClient, rows: list[dict]) -> None:
    q = AuditLogQuery(D1, D3, SOURCES)
    in_scope = [r for r in rows if r["source"] in SOURCES]
    by_day = client.counts(q, "day")
    assert [(c.key, c.count) for c in by_day] == sorted(Counter(r["dt"] for r in in_scope).items())
    by_hour = client.counts(q, "hour")  # the UTC hour, in time order (Activity's view of a day or two)
    hours = Counter(r["Timestamp"].strftime("%Y-%m-%d %H:00") for r in in_scope)
    assert [(c.key, c.count) for c in by_hour] == sorted(hours.items())
    by_actor = client.counts(q, "actor")
    assert {c.key: c.count for c in by_actor} == dict(Counter(r["ActorName"] for r in in_scope))
    assert [c.count for c in by_actor] == sorted((c.count for c in by_actor), reverse=True)
    pairs = client.counts(q, ("source", "action"))
    assert {(c.key, c.key2): c.count for c in pairs} == dict(
        Counter((r["source"], r["Action"]) for r in in_scope)
    )
    with pytest.raises(QueryValidationError) as info:
        client.counts(q, "ActorName")
    assert info.value.field == "group_by"


def test_history_includes_children_once_newest_first(client: AuditLogClient, rows: list[dict]) -> None:
    hist = client.history("order-1", date_from=D1, date_to=D3)
    want = newest_first([r for r in rows if "order-1" in (r["EntityId"], r["EntityParentId"])])
    assert ids(hist) == want
    assert ids(hist).count("self-parent:0") == 1
    own = client.history("order-1", include_children=False, date_from=D1, date_to=D3, limit=5)
    assert ids(own) == newest_first([r for r in rows if r["EntityId"] == "order-1"])[:5]
    with pytest.raises(QueryValidationError):
        client.history("order-1", date_from=D1, date_to=D3, limit=0)


def test_correlation_across_sources_in_time_order(client: AuditLogClient, rows: list[dict]) -> None:
    got = client.correlation("corr-A", date_from=D1, date_to=D3)
    want = [
        r["Id"]
        for r in sorted(
            (r for r in rows if r["CorrelationId"] == "corr-A"), key=lambda r: (r["Timestamp"], r["Id"])
        )
    ]
    assert ids(got) == want and {r.source for r in got} == set(SOURCES)


def test_sources_are_discovered_from_partition_folders(client: AuditLogClient) -> None:
    assert client.sources() == sorted([*SOURCES, "sqli.test"])


def test_empty_or_missing_data_folder_gives_empty_results(tmp_path: Path) -> None:
    client = AuditLogClient(DuckDBBackend(tmp_path / "nothing-here"), SETTINGS)
    q = AuditLogQuery(D1, D3, ("shop.orders",))
    assert client.query(q).rows == [] and client.count(q) == 0 and client.counts(q, "day") == []
    assert client.sources() == [] and client.history("x") == [] and client.correlation("c") == []
    client.close()


def test_partition_pruning_and_new_files(tmp_path: Path) -> None:
    backend = DuckDBBackend(tmp_path)
    client = AuditLogClient(backend, SETTINGS)
    from datetime import datetime

    write_rows(tmp_path, [make_row("a:0", datetime(2026, 11, 24, 1), "one", Action="Create")])
    q = AuditLogQuery(D1, D1, ("one", "two"))
    assert ids(client.query(q).rows) == ["a:0"]
    # a run for another source appears without a restart (source listing is cached, the table is not)
    write_rows(tmp_path, [make_row("b:0", datetime(2026, 11, 24, 2), "two")], run_id="run-20261128")
    assert ids(client.query(q).rows) == ["b:0", "a:0"]
    assert client.query(AuditLogQuery(D1, D1, ("two",), actions=(Action.CREATE,))).rows == []
    client.close()


def test_closed_backend_raises_backend_error(tmp_path: Path) -> None:
    backend = DuckDBBackend(tmp_path)
    backend.close()
    with pytest.raises(BackendError):
        backend.execute("SELECT 1")


def test_engine_errors_are_backend_errors(backend: DuckDBBackend) -> None:
    with pytest.raises(BackendError, match="DuckDB"):
        backend.execute("SELECT * FROM no_such_table")


def test_concurrent_queries_from_threads(client: AuditLogClient, rows: list[dict]) -> None:
    q = AuditLogQuery(D1, D3, SOURCES, limit=1000)
    want = newest_first([r for r in rows if r["source"] in SOURCES])
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(5):
                results.append(ids(client.query(q).rows))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 30 and all(r == want for r in results)


def test_the_table_names_only_the_partitions_a_query_can_touch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year of partitions must not be opened for a one-day page; the listed files give the same rows as
    reading everything, also when the folder name needs escaping and when the list is too long to name."""
    from datetime import datetime

    from audit_query.backends import duckdb as duckdb_backend

    root = tmp_path / "o'brien data"
    rows = [
        make_row(f"{day}{src}:0", datetime(2026, 11, day, 12), src, Action="Create")
        for day in (23, 24, 25)
        for src in ("one", "two")
    ]
    write_rows(root, rows)
    backend = DuckDBBackend(root)
    client = AuditLogClient(backend, SETTINGS)
    q = AuditLogQuery(D1, D1, ("one",))
    ref = backend.table_ref(q)
    assert "dt=2026-11-24/source=one/run-20261127.parquet" in ref
    assert "source=two" not in ref and "dt=2026-11-23" not in ref and "**" not in ref
    assert ids(client.query(q).rows) == ["24one:0"]
    wide = AuditLogQuery(date(2026, 11, 23), date(2026, 11, 25), ("one", "two", "three"))
    listed = ids(client.query(wide).rows)
    monkeypatch.setattr(duckdb_backend, "MAX_LISTED_FILES", 2)
    assert "**" in backend.table_ref(wide)
    assert ids(client.query(wide).rows) == listed and len(listed) == 6
    assert client.query(AuditLogQuery(date(2026, 11, 1), date(2026, 11, 2), ("one",))).rows == []
    client.close()
