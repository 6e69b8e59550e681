"""Newest-first or oldest-first (issue 13 item 6): every page forward and back, in both orders, equals an
independent DuckDB query over the same Parquet; the first-day probe reads the range's first day for
oldest-first; cursors are bound to their order; the Athena SQL of both orders parses and returns the
DuckDB SQL's rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from audit_query import AuditLogClient, AuditLogQuery, CursorError, QueryValidationError
from audit_query import sql as b
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.cursor import Keyset, to_millis
from audit_query.formatter import qualified_table

from .conftest import SETTINGS, make_row, write_rows

# Rows per day: dense, sparse, empty, a midnight pile-up (equal timestamps), dense again.
PER_DAY = {20: 25, 21: 2, 22: 0, 23: 9, 24: 1, 25: 0, 26: 14}
SOURCES = ("billing", "shop.orders")


class FullRange(DuckDBBackend):
    """The same engine without the first-day probe: one query over the whole range per page."""

    probe_first_day = False


class Counting(DuckDBBackend):
    """Counts the page queries it runs."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.runs = 0

    def execute(self, sql: str):
        self.runs += sql.startswith("WITH")
        return super().execute(sql)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("order")
    rows = []
    for day, n in PER_DAY.items():
        for k in range(n):
            if day == 23:  # the day's first and last millisecond, several rows on each
                ts = datetime(2026, 11, day) + (timedelta(days=1, milliseconds=-1) if k % 2 else timedelta())
            else:
                ts = datetime(2026, 11, day, 1 + k % 20, k)
            rows.append(make_row(f"e{day}-{k:02d}:{k % 3}", ts, SOURCES[k % 2]))
    write_rows(folder, rows)
    return folder


def oracle(data_dir: Path, q: AuditLogQuery, with_time: bool = False) -> list:
    """The ids `q` matches in its order (with their Timestamp when `with_time`), by a plain DuckDB query
    that shares no code with the library."""
    direction = "DESC" if q.order == "newest" else "ASC"
    glob = str(data_dir / "analytics" / "auditlog" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT Id, Timestamp FROM read_parquet(?, hive_partitioning = true) WHERE source IN ?"  # noqa: S608
            f" AND dt BETWEEN ? AND ? ORDER BY Timestamp {direction}, Id {direction}",
            [glob, list(q.sources), q.date_from.isoformat(), q.date_to.isoformat()],
        ).fetchall()
    finally:
        con.close()
    return [(r[1], r[0]) for r in rows] if with_time else [r[0] for r in rows]


def walk(client: AuditLogClient, q: AuditLogQuery) -> tuple[list[list[str]], list[list[str]]]:
    """Every page following Next from the first, then every page following Previous back: their ids."""
    forward, back = [], []
    page = client.query(q)
    forward.append([r.Id for r in page.rows])
    current = q
    while (nxt := current.next_query(page)) is not None:
        current, page = nxt, client.query(nxt)
        forward.append([r.Id for r in page.rows])
    while (prv := current.prev_query(page)) is not None:
        current, page = prv, client.query(prv)
        back.append([r.Id for r in page.rows])
    assert current.first_query() == q.first_query()
    return forward, back


@pytest.mark.parametrize("order", ["newest", "oldest"])
@pytest.mark.parametrize("limit", [1, 3, 4, 13, 60])
@pytest.mark.parametrize("probe", [True, False], ids=["probe", "full-range"])
def test_paging_forward_and_back_equals_the_oracle_in_both_orders(
    data_dir: Path, order: str, limit: int, probe: bool
) -> None:
    q = AuditLogQuery("2026-11-20", "2026-11-26", SOURCES, limit=limit, order=order)
    want = oracle(data_dir, q)
    assert len(want) == sum(PER_DAY.values())
    with (DuckDBBackend if probe else FullRange)(data_dir) as backend:
        forward, back = walk(AuditLogClient(backend, SETTINGS), q)
    assert [i for ids in forward for i in ids] == want
    assert all(len(ids) == limit for ids in forward[:-1])
    # Previous from the last page shows the earlier pages again, one by one, back to the first.
    assert back == forward[:-1][::-1]


def test_oldest_first_starts_at_the_first_day_and_newest_first_at_the_last(data_dir: Path) -> None:
    with DuckDBBackend(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        oldest = client.query(AuditLogQuery("2026-11-20", "2026-11-26", SOURCES, limit=5, order="oldest"))
        newest = client.query(AuditLogQuery("2026-11-20", "2026-11-26", SOURCES, limit=5))
    assert {r.dt for r in oldest.rows} == {"2026-11-20"} and {r.dt for r in newest.rows} == {"2026-11-26"}
    assert [r.Timestamp for r in oldest.rows] == sorted(r.Timestamp for r in oldest.rows)
    assert oldest.prev_cursor is None and oldest.next_cursor is not None


def test_the_probe_reads_the_first_day_for_oldest_first(data_dir: Path) -> None:
    with Counting(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        # 11-20 holds 25 rows: a page of 5 oldest-first is answered by that one day.
        page = client.query(AuditLogQuery("2026-11-20", "2026-11-26", SOURCES, limit=5, order="oldest"))
        assert backend.runs == 1 and len(page.rows) == 5
        # 11-21 holds 2: the probe falls short and the whole range is read.
        page = client.query(AuditLogQuery("2026-11-21", "2026-11-26", SOURCES, limit=5, order="oldest"))
        assert backend.runs == 3 and len(page.rows) == 5


def test_a_cursor_is_bound_to_its_order(data_dir: Path) -> None:
    with DuckDBBackend(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        q = AuditLogQuery("2026-11-20", "2026-11-26", SOURCES, limit=5)
        nxt = q.next_query(client.query(q))
        assert nxt is not None
        with pytest.raises(CursorError, match="different filters"):
            client.query(AuditLogQuery(**{**nxt.__dict__, "order": "oldest"}))


def test_an_unknown_order_names_the_field_and_the_choices() -> None:
    with pytest.raises(QueryValidationError, match="order: 'random' is not one of: newest, oldest"):
        AuditLogQuery("2026-11-20", "2026-11-26", SOURCES, order="random")


ATHENA_TABLE = qualified_table("auditlog", "auditlog")


@pytest.mark.parametrize("direction", ["next", "prev"])
def test_athena_sql_of_oldest_first_parses_and_returns_the_duckdb_rows(
    data_dir: Path, direction: str
) -> None:
    q = AuditLogQuery("2026-11-20", "2026-11-26", SOURCES, limit=4, order="oldest")
    position = Keyset(to_millis(datetime(2026, 11, 23, 12)), "m", direction)
    athena = b.build_page_sql(q, dialect="athena", table_ref=ATHENA_TABLE, position=position)
    trees = sqlglot.parse(athena, read="athena")
    assert len(trees) == 1 and isinstance(trees[0], exp.Select)
    backend = DuckDBBackend(data_dir)
    con = duckdb.connect()
    try:
        con.execute('CREATE SCHEMA "auditlog"')
        con.execute(f'CREATE VIEW "auditlog"."auditlog" AS SELECT * FROM {backend.table_ref()}')
        got = [r[0] for r in con.execute(athena).fetchall()]
        local = b.build_page_sql(q, dialect="duckdb", table_ref=backend.table_ref(), position=position)
        assert got == [r[0] for r in con.execute(local).fetchall()]
    finally:
        con.close()
        backend.close()
    # Oldest first, "next" reads the rows after 11-23 12:00 ascending; "prev" those before it, descending.
    cut = datetime(2026, 11, 23, 12)
    stamps = oracle(data_dir, q, with_time=True)
    if direction == "next":
        assert got == [i for ts, i in stamps if ts > cut][:5]
    else:
        assert got == [i for ts, i in stamps if ts < cut][::-1][:5]


def test_page_links_issued_before_the_new_fields_still_work() -> None:
    """A cursor binds the filters' hash; fields added later (order, changed fields, the explorer switch)
    count only when set, so a link from before them keeps its page, and setting one still refuses it."""
    q = AuditLogQuery("2026-11-20", "2026-11-26", SOURCES, actor_name="alice")
    q2 = AuditLogQuery(
        "2026-11-20", "2026-11-26", SOURCES, actions=["Update"], time_from="2026-11-20T10:00:00"
    )
    # the hashes main's code (before these fields) gives the same queries
    assert (q.fingerprint(), q2.fingerprint()) == (
        "0b0461c2b14cc30b5a74873e88a85b59",
        "8655249cf89322cd1619395a3764ffd3",
    )
    for changed in ({"order": "oldest"}, {"changed_fields": ("x",)}, {"include_explorer_events": True}):
        assert AuditLogQuery(**{**q.__dict__, **changed}).fingerprint() != q.fingerprint()
