"""Reading a page's first day before the whole range (DuckDB's `probe_first_day`) returns exactly the pages
the whole-range query returns, forward and back, over dense, sparse and empty days and rows at midnight."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from audit_query import AuditLogClient, AuditLogQuery
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.cursor import Keyset, encode_cursor, to_millis

from .conftest import SETTINGS, make_row, write_rows

# Rows per day from 11-20 to 11-26: dense, sparse, empty, a midnight pile-up, dense again.
PER_DAY = {20: 25, 21: 2, 22: 0, 23: 9, 24: 1, 25: 0, 26: 14}


class FullRange(DuckDBBackend):
    """The same engine with the probe off: every page is one query over the whole range (the oracle)."""

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
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    folder = tmp_path_factory.mktemp("probe")
    rows = []
    for day, n in PER_DAY.items():
        for k in range(n):
            # Day 23 piles rows on its first and last millisecond, equal timestamps included.
            if day == 23:
                ts = datetime(2026, 11, day) + (timedelta(days=1, milliseconds=-1) if k % 2 else timedelta())
            else:
                ts = datetime(2026, 11, day, 1 + k % 20, k)
            rows.append(make_row(f"e{day}-{k:02d}:0", ts, ("billing", "shop.orders")[k % 2]))
    write_rows(folder, rows)
    return folder, rows


@pytest.fixture(scope="module")
def data_dir(stored: tuple[Path, list[dict]]) -> Path:
    return stored[0]


def pages(client: AuditLogClient, q: AuditLogQuery) -> list[tuple[list[str], bool, bool]]:
    """Every page forward, then every page back: (ids, has a next cursor, has a previous cursor)."""
    seen = []
    page = client.query(q)
    seen.append(([r.Id for r in page.rows], page.next_cursor is not None, page.prev_cursor is not None))
    current = q
    while (nxt := current.next_query(page)) is not None:
        current = nxt
        page = client.query(current)
        seen.append(([r.Id for r in page.rows], page.next_cursor is not None, page.prev_cursor is not None))
    while (prv := current.prev_query(page)) is not None:
        current = prv
        page = client.query(current)
        seen.append(([r.Id for r in page.rows], page.next_cursor is not None, page.prev_cursor is not None))
    return seen


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 8, 13, 60])
@pytest.mark.parametrize("sources", [("billing", "shop.orders"), ("billing",)])
def test_probed_pages_equal_whole_range_pages(
    stored: tuple[Path, list[dict]], limit: int, sources: tuple[str, ...]
) -> None:
    data_dir, rows = stored
    q = AuditLogQuery("2026-11-20", "2026-11-26", sources, limit=limit)
    with DuckDBBackend(data_dir) as probed, FullRange(data_dir) as full:
        got = pages(AuditLogClient(probed, SETTINGS), q)
        want = pages(AuditLogClient(full, SETTINGS), q)
    assert got == want
    assert {i for ids, _, _ in got for i in ids} == {r["Id"] for r in rows if r["source"] in sources}


def test_a_full_first_day_answers_in_one_query_and_a_short_one_falls_back(data_dir: Path) -> None:
    with Counting(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        page = client.query(AuditLogQuery("2026-11-20", "2026-11-26", ("billing", "shop.orders"), limit=5))
        assert backend.runs == 1 and len(page.rows) == 5 and page.has_more
        page = client.query(AuditLogQuery("2026-11-20", "2026-11-26", ("billing", "shop.orders"), limit=20))
        # 14 rows on 11-26, 1 on 11-24..25, the rest from 11-20..23: each day read once, in 3 statements
        assert backend.runs == 4 and len(page.rows) == 20


def test_cursors_outside_the_range_read_what_the_whole_range_reads(data_dir: Path) -> None:
    q = AuditLogQuery("2026-11-21", "2026-11-24", ("billing", "shop.orders"), limit=3)
    for when, direction in [
        (datetime(2026, 12, 1), "next"),
        (datetime(2026, 11, 10), "next"),
        (datetime(2026, 11, 10), "prev"),
        (datetime(2026, 12, 1), "prev"),
        (datetime(2026, 11, 23, 23, 59, 59, 999000), "next"),
        (datetime(2026, 11, 23), "prev"),
    ]:
        cursor = encode_cursor(Keyset(to_millis(when), "e99:0", direction), q, SETTINGS.cursor_secret)
        at = AuditLogQuery(q.date_from, q.date_to, q.sources, limit=3, cursor=cursor, direction=direction)
        with DuckDBBackend(data_dir) as probed, FullRange(data_dir) as full:
            got = AuditLogClient(probed, SETTINGS).query(at)
            want = AuditLogClient(full, SETTINGS).query(at)
        assert [r.Id for r in got.rows] == [r.Id for r in want.rows], (when, direction)
        assert (got.has_more, got.next_cursor, got.prev_cursor) == (
            want.has_more, want.next_cursor, want.prev_cursor
        )


@pytest.mark.parametrize("order", ["newest", "oldest"])
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_an_exact_actor_reads_the_rest_of_its_range_in_one_statement(
    tmp_path: Path, limit: int, order: str
) -> None:
    """A key the backend narrows by (an exact actor: only files that may hold the name are opened) does not
    double its span day by day: after the first day the rest of the range is one statement, and every page
    forward and back is still the whole-range query's."""
    rows = [
        make_row(f"a{d:02d}-{k}:0", datetime(2026, 10, d, 3 + k), "shop.orders",
                 ActorName="ann" if (d + k) % 9 == 0 else "bob")
        for d in range(1, 31)
        for k in range(3)
    ]
    write_rows(tmp_path, rows)
    q = AuditLogQuery(
        "2026-10-01", "2026-10-30", ("shop.orders",), actor_name="ann", limit=limit, order=order
    )
    with Counting(tmp_path) as probed, FullRange(tmp_path) as full:
        got = pages(AuditLogClient(probed, SETTINGS), q)
        want = pages(AuditLogClient(full, SETTINGS), q)
        assert got == want
        assert {i for ids, _, _ in got for i in ids} == {r["Id"] for r in rows if r["ActorName"] == "ann"}
        probed.runs = 0
        AuditLogClient(probed, SETTINGS).query(q)
        assert probed.runs <= 2  # the first day, then the rest of the 30 days (doubling took five)
