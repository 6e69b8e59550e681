"""The builder's Athena SQL: string-in/string-out, parsed by sqlglot (Trino grammar), and the same rows as the
DuckDB SQL when run on DuckDB against a view named like the Athena table."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from audit_query import AuditLogQuery
from audit_query import sql as b
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.cursor import Keyset
from audit_query.formatter import qualified_table

from .conftest import SOURCES, page_sql

ATHENA_TABLE = qualified_table("auditlog", "auditlog")


def test_first_page_sql() -> None:
    q = AuditLogQuery(
        date(2026, 11, 20),
        date(2026, 11, 26),
        ("shop.orders", "billing"),
        actions=["Update", "Delete"],
        actor_name="o'brien",
        limit=50,
    )
    where = (
        "WHERE \"dt\" BETWEEN '2026-11-20' AND '2026-11-26'\n"
        "  AND \"source\" IN ('billing', 'shop.orders')\n"
        "  AND \"Action\" IN ('Update', 'Delete')\n"
        "  AND \"ActorName\" = 'o''brien'\n"
    )
    assert b.build_page_sql(q, dialect="athena", table_ref=ATHENA_TABLE) == page_sql(
        '"auditlog"."auditlog"', where, 51
    )


def test_prev_page_reverses_comparison_and_order() -> None:
    q = AuditLogQuery("2026-11-26", "2026-11-26", ("a",), limit=3)
    text = b.build_page_sql(
        q, dialect="athena", table_ref=ATHENA_TABLE, position=Keyset(1795651200123, "i", "prev")
    )
    where = (
        "WHERE \"dt\" BETWEEN '2026-11-26' AND '2026-11-26'\n"
        "  AND \"source\" = 'a'\n"
        '  AND ("Timestamp" > TIMESTAMP \'2026-11-26 00:00:00.123\' OR ("Timestamp" = TIMESTAMP '
        "'2026-11-26 00:00:00.123' AND \"Id\" > 'i'))\n"
    )
    assert text == page_sql(ATHENA_TABLE, where, 4, "ASC")  # newer rows first in ascending order


def test_sql_parses_as_one_select_on_the_athena_table() -> None:
    q = AuditLogQuery("2026-11-20", "2026-11-26", ("a", "b"), entity_id="x", include_children=True)
    for text in (
        b.build_page_sql(q, dialect="athena", table_ref=ATHENA_TABLE, position=Keyset(0, "i", "next")),
        b.build_count_sql(q, dialect="athena", table_ref=ATHENA_TABLE),
        b.build_counts_sql(q, ("day", "action"), dialect="athena", table_ref=ATHENA_TABLE),
        b.build_history_sql(q, dialect="athena", table_ref=ATHENA_TABLE, limit=10),
    ):
        trees = sqlglot.parse(text, read="athena")
        assert len(trees) == 1 and isinstance(trees[0], exp.Select)
        ctes = {c.alias for c in trees[0].find_all(exp.CTE)}
        tables = {(t.db, t.name) for t in trees[0].find_all(exp.Table) if t.name not in ctes}
        assert tables == {("auditlog", "auditlog")}


@pytest.fixture(scope="module")
def athena_on_duckdb(dataset):
    """A DuckDB connection with a view "auditlog"."auditlog" over the fixture Parquet, and the backend."""
    backend = DuckDBBackend(dataset[0])
    con = duckdb.connect()
    con.execute('CREATE SCHEMA "auditlog"')
    con.execute(f'CREATE VIEW "auditlog"."auditlog" AS SELECT * FROM {backend.table_ref()}')
    yield con, backend
    con.close()
    backend.close()


QUERIES = [
    AuditLogQuery("2026-11-24", "2026-11-26", SOURCES, limit=30),
    AuditLogQuery("2026-11-25", "2026-11-25", ("shop.orders",), actions=("Update", "Create"), limit=1000),
    AuditLogQuery(
        "2026-11-24", "2026-11-26", SOURCES, entity_id="order-1", include_children=True, limit=1000
    ),
    AuditLogQuery("2026-11-24", "2026-11-26", SOURCES, actor_types=("User",), channel_codes=("web", "app")),
    AuditLogQuery("2026-11-24", "2026-11-26", SOURCES, correlation_id="corr-A", actor_name="alice"),
    AuditLogQuery("2026-11-25", "2026-11-25", ("sqli.test",), entity_types=("' OR 1=1 --", "Child")),
]


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_athena_and_duckdb_sql_return_the_same_rows(athena_on_duckdb, query: AuditLogQuery) -> None:
    con, backend = athena_on_duckdb
    duck_ref = backend.table_ref()
    position = Keyset(1795694405001, "m", "next")  # 2026-11-26 12:00:05.001: lands inside the data

    def both(build, **kw):
        athena = con.execute(build(query, dialect="athena", table_ref=ATHENA_TABLE, **kw)).fetchall()
        local = con.execute(build(query, dialect="duckdb", table_ref=duck_ref, **kw)).fetchall()
        return athena, local

    for build, kw in [
        (b.build_page_sql, {}),
        (b.build_page_sql, {"position": position}),
        (b.build_page_sql, {"position": Keyset(position.timestamp_ms, "m", "prev")}),
        (b.build_count_sql, {}),
        (b.build_counts_sql, {"group_by": "actor_type"}),
        (b.build_counts_sql, {"group_by": ("hour", "action")}),
    ]:
        athena, local = both(build, **kw)
        assert athena == local
    athena, _ = both(b.build_count_sql)
    assert athena[0][0] > 0  # every query matches something, so equality is not vacuous
