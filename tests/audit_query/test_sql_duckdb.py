"""The builder's DuckDB SQL, string-in/string-out, and what DuckDB does with it (EXPLAIN, real Parquet)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from audit_query import AuditLogQuery
from audit_query import sql as b
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.cursor import Keyset

from .conftest import page_sql

T = "read_parquet('/data/analytics/auditlog/**/*.parquet', hive_partitioning = true, hive_types = {'dt': VARCHAR, 'source': VARCHAR})"  # noqa: E501


def test_first_page_sql() -> None:
    q = AuditLogQuery(
        date(2026, 11, 24),
        date(2026, 11, 26),
        ("shop.orders",),
        entity_types=("Order",),
        actor_types=("User", "Client"),
        channel_codes=("web",),
        correlation_id="c-1",
        limit=20,
    )
    where = (
        "WHERE \"dt\" BETWEEN '2026-11-24' AND '2026-11-26'\n"
        "  AND \"source\" = 'shop.orders'\n"
        "  AND \"EntityType\" = 'Order'\n"
        "  AND \"ActorType\" IN ('User', 'Client')\n"
        "  AND \"CorrelationId\" = 'c-1'\n"
        "  AND \"ChannelCode\" = 'web'\n"
    )
    assert b.build_page_sql(q, dialect="duckdb", table_ref=T) == page_sql(T, where, 21)


def test_next_page_sql_compares_the_keyset_with_a_timestamp_literal() -> None:
    q = AuditLogQuery("2026-11-26", "2026-11-26", ("b", "a"), limit=5)
    text = b.build_page_sql(
        q, dialect="duckdb", table_ref="t", position=Keyset(1795651200000, "x'y:0", "next")
    )
    keyset = (
        "WHERE \"dt\" BETWEEN '2026-11-26' AND '2026-11-26'\n"
        "  AND \"source\" IN ('a', 'b')\n"
        '  AND ("Timestamp" < TIMESTAMP \'2026-11-26 00:00:00.000\' OR ("Timestamp" = TIMESTAMP '
        "'2026-11-26 00:00:00.000' AND \"Id\" < 'x''y:0'))\n"
    )
    # the keys' Top-N and the joined rows both carry it; the page ends in the same order and limit
    assert text == page_sql("t", keyset, 6)


def test_entity_with_children_is_a_union_all_of_two_pushed_down_branches(dataset) -> None:
    backend = DuckDBBackend(dataset[0])
    q = AuditLogQuery(
        "2026-11-24", "2026-11-26", ("shop.orders",), entity_id="order-1", include_children=True
    )
    text = b.build_page_sql(q, dialect="duckdb", table_ref=backend.table_ref())
    assert text.count("UNION ALL") == 2  # in the keys' Top-N and in the joined rows
    plan = duckdb.sql("EXPLAIN " + text).fetchall()[0][1]
    # each branch's equality sits in the Parquet scan's Filters (row-group pruning), not in a later Filter
    assert plan.count("READ_PARQUET") == 4
    assert plan.count("EntityId = 'order-1'") >= 2 and plan.count("EntityParentId = 'order-1'") == 2
    assert "Filter ─" not in plan and "─ Filter" not in plan
    backend.close()


def test_or_form_would_not_be_pushed_down(dataset) -> None:
    # the reason for UNION ALL: DuckDB keeps an OR over two columns as a filter after the scan
    backend = DuckDBBackend(dataset[0])
    plan = duckdb.sql(
        f"EXPLAIN SELECT * FROM {backend.table_ref()} "
        "WHERE \"EntityId\" = 'order-1' OR \"EntityParentId\" = 'order-1'"
    ).fetchall()[0][1]
    assert "Filter" in plan.split("READ_PARQUET")[0]
    backend.close()


def test_count_and_counts_sql() -> None:
    q = AuditLogQuery("2026-11-26", "2026-11-26", ("a",))
    assert b.build_count_sql(q, dialect="duckdb", table_ref="t") == (
        "SELECT COUNT(*) AS \"count\"\nFROM t\nWHERE \"dt\" BETWEEN '2026-11-26' AND '2026-11-26'\n"
        "  AND \"source\" = 'a'"
    )
    text = b.build_counts_sql(q, "actor", dialect="duckdb", table_ref="t")
    assert text.startswith('SELECT "ActorName" AS "key", COUNT(*) AS "count"\nFROM (\n')
    assert text.endswith('GROUP BY "ActorName"\nORDER BY "count" DESC, "key" ASC NULLS LAST')
    with pytest.raises(ValueError, match="group_by"):
        b.build_counts_sql(q, "ActorName; DROP", dialect="duckdb", table_ref="t")


def test_history_and_correlation_order() -> None:
    q = AuditLogQuery("2026-11-26", "2026-11-26", ("a",), entity_id="e")
    assert b.build_history_sql(q, dialect="duckdb", table_ref="t", limit=9).endswith(
        '  AND "EntityId" = \'e\'\nORDER BY "Timestamp" DESC, "Id" DESC\nLIMIT 9'
    )
    q = AuditLogQuery("2026-11-26", "2026-11-26", ("a",), correlation_id="c")
    assert b.build_correlation_sql(q, dialect="duckdb", table_ref="t", limit=9).endswith(
        '  AND "CorrelationId" = \'c\'\nORDER BY "Timestamp" ASC, "Id" ASC\nLIMIT 9'
    )


def test_every_statement_runs_on_duckdb(backend: DuckDBBackend) -> None:
    q = AuditLogQuery(
        "2026-11-24",
        "2026-11-26",
        ("shop.orders", "billing"),
        entity_id="order-1",
        include_children=True,
        actions=("Update",),
    )
    ref = backend.table_ref()
    for text in (
        b.build_page_sql(q, dialect="duckdb", table_ref=ref),
        b.build_page_sql(q, dialect="duckdb", table_ref=ref, position=Keyset(1795737600000, "z", "prev")),
        b.build_count_sql(q, dialect="duckdb", table_ref=ref),
        b.build_counts_sql(q, ("day", "source"), dialect="duckdb", table_ref=ref),
        b.build_history_sql(q, dialect="duckdb", table_ref=ref, limit=10),
    ):
        assert isinstance(backend.execute(text), list)
