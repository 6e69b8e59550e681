"""Keyset pages over many equal timestamps: forward then back returns every row once, in order."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_query import AuditLogClient, AuditLogQuery

from .conftest import SOURCES


def expected_ids(rows: list[dict], sources: tuple[str, ...] = SOURCES) -> list[str]:
    picked = [r for r in rows if r["source"] in sources]
    return [r["Id"] for r in sorted(picked, key=lambda r: (r["Timestamp"], r["Id"]), reverse=True)]


def walk(client: AuditLogClient, q: AuditLogQuery) -> tuple[list[list[str]], list[list[str]]]:
    forward = []
    page = client.query(q)
    assert page.prev_cursor is None
    forward.append([r.Id for r in page.rows])
    current = q
    while (nxt := current.next_query(page)) is not None:
        current = nxt
        page = client.query(current)
        forward.append([r.Id for r in page.rows])
    assert not page.has_more
    backward = [[r.Id for r in page.rows]]
    while (prv := current.prev_query(page)) is not None:
        current = prv
        page = client.query(current)
        backward.append([r.Id for r in page.rows])
    return forward, backward


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(min_value=1, max_value=130))
def test_forward_then_back_returns_every_row_exactly_once(
    client: AuditLogClient, rows: list[dict], limit: int
) -> None:
    q = AuditLogQuery("2026-11-24", "2026-11-26", ("billing",), limit=limit)
    forward, backward = walk(client, q)
    want = expected_ids(rows, ("billing",))
    assert len(want) == 120
    assert [i for p in forward for i in p] == want
    assert all(len(p) == limit for p in forward[:-1])
    # going back visits the same pages in reverse order, each newest first
    assert backward == forward[::-1]


def test_walk_across_sources_with_equal_timestamps(client: AuditLogClient, rows: list[dict]) -> None:
    q = AuditLogQuery("2026-11-24", "2026-11-26", SOURCES, limit=7)
    forward, backward = walk(client, q)
    assert [i for p in forward for i in p] == expected_ids(rows)
    assert backward == forward[::-1]


def test_first_and_last_page_flags(client: AuditLogClient) -> None:
    q = AuditLogQuery("2026-11-24", "2026-11-24", ("billing",), limit=40)
    page = client.query(q)
    assert len(page.rows) == 40 and not page.has_more
    assert page.next_cursor is None and page.prev_cursor is None
    q = AuditLogQuery("2026-11-24", "2026-11-24", ("billing",), limit=39)
    first = client.query(q)
    assert first.has_more and first.next_cursor and first.prev_cursor is None
    last = client.query(q.next_query(first))
    assert len(last.rows) == 1 and not last.has_more and last.next_cursor is None and last.prev_cursor


def test_iter_pages_walks_every_page(client: AuditLogClient, rows: list[dict]) -> None:
    q = AuditLogQuery("2026-11-24", "2026-11-26", ("crm-app",), limit=17)
    pages = list(client.iter_pages(q))
    assert [r.Id for p in pages for r in p.rows] == expected_ids(rows, ("crm-app",))
    assert len(pages) == -(-120 // 17)


def test_empty_result_has_no_cursors(client: AuditLogClient) -> None:
    page = client.query(AuditLogQuery("2026-11-24", "2026-11-26", SOURCES, actor_name="nobody"))
    assert page.rows == [] and page.next_cursor is None and page.prev_cursor is None and not page.has_more
