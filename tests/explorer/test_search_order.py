"""Search page (AppTest): newest-first or oldest-first with Next/Previous/First in both orders, and the
explorer's own access events left out of the default search unless "Include explorer access events" is
ticked or their source is chosen; each checked against a plain DuckDB query over the same Parquet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from audit_query import filters
from tests.audit_query.conftest import make_row, write_rows
from tests.explorer.conftest import APP, open_more_filters, texts

EXPLORER = filters.EXPLORER_SOURCE
LIMIT = 4


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Today: 10 order changes and 3 explorer access events, each with a unique entity id."""
    folder = tmp_path_factory.mktemp("search-order")
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    rows = [
        make_row(f"o{i:02d}:0", start + timedelta(seconds=i), "shop.orders", EntityId=f"order-{i:02d}",
                 EntityType="Order", Action="Update", Before='{"status":"new"}', After='{"status":"paid"}')
        for i in range(10)
    ]
    rows += [
        make_row(f"x{i:02d}:0", start + timedelta(seconds=i, milliseconds=500), EXPLORER,
                 EntityId=f"view-{i:02d}", EntityType="View", Action="Read")
        for i in range(3)
    ]
    write_rows(folder, rows)
    return folder


@pytest.fixture
def app(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AUDITLOG_ACCESS_LOG", "off")  # the page's own reads would add explorer events
    monkeypatch.setenv("AUDITLOG_DEFAULT_LIMIT", str(LIMIT))
    for var in ("AUDITLOG_AUTH_MAPPING", "AUDITLOG_MASKING_RULES", "AUDITLOG_BACKEND"):
        monkeypatch.delenv(var, raising=False)

    def make(**params: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        at.switch_page("pages/search.py")
        for k, v in params.items():
            at.query_params[k] = v
        return at.run()

    return make


def oracle(data_dir: Path, sources: tuple[str, ...], order: str = "newest") -> list[str]:
    """Entity ids of `sources` in the order asked for, by plain DuckDB."""
    d = "DESC" if order == "newest" else "ASC"
    glob = str(data_dir / "analytics" / "auditlog" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT EntityId FROM read_parquet(?, hive_partitioning = true) WHERE source IN ? "  # noqa: S608
            f"ORDER BY Timestamp {d}, Id {d}",
            [glob, list(sources)],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def grid(at: AppTest) -> list[str]:
    assert not at.exception and not at.error, (at.exception, at.error)
    return list(at.dataframe[0].value["Entity id"])


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_order_from_the_form_pages_forward_back_and_first_like_the_oracle(
    app, data_dir: Path, order: str
) -> None:
    at = app()
    if order == "oldest":
        at.radio(key="s_order").set_value("oldest")
        at.button(key="FormSubmitter:search_form-Search").click().run()
        assert at.query_params["order"] == "oldest"
    want = oracle(data_dir, ("shop.orders",), order)
    pages = [want[i : i + LIMIT] for i in range(0, len(want), LIMIT)]
    assert grid(at) == pages[0]
    assert any(("oldest first" if order == "oldest" else "newest first") in c for c in texts(at.caption))
    for expected in pages[1:]:
        at.button(key="page_next").click().run()
        assert grid(at) == expected
    assert at.button(key="page_next").disabled
    at.button(key="page_prev").click().run()
    assert grid(at) == pages[-2]
    at.button(key="page_first").click().run()
    assert grid(at) == pages[0] and at.button(key="page_prev").disabled


def test_a_link_with_order_oldest_shows_the_oldest_rows_first(app, data_dir: Path) -> None:
    at = app(order="oldest")
    assert grid(at) == oracle(data_dir, ("shop.orders",), "oldest")[:LIMIT]
    assert at.radio(key="s_order").value == "oldest"


def test_explorer_events_are_left_out_unless_the_toggle_or_their_source_asks(app, data_dir: Path) -> None:
    at = app()
    assert grid(at) == oracle(data_dir, ("shop.orders",))[:LIMIT]
    assert any("10 matching rows" in c for c in texts(at.caption))
    toggle = open_more_filters(at).checkbox(key="s_xev")
    assert toggle.label == "Include explorer access events" and not toggle.value
    toggle.check()
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert at.query_params["xev"] == "1"
    assert grid(at) == oracle(data_dir, ("shop.orders", EXPLORER))[:LIMIT]
    assert any("13 matching rows" in c for c in texts(at.caption))
    chosen = app(src=EXPLORER)  # a link naming the source: shown without the toggle
    assert grid(chosen) == oracle(data_dir, (EXPLORER,))


def test_activity_counts_the_same_sources_as_search(app) -> None:
    """Activity charts the Search filters' view: by default without the explorer's own access events, with
    them when the toggle is in the link (the page's total is the Search page's "N matching rows")."""
    at = app()
    at.switch_page("pages/activity.py")
    at.run()
    assert not at.exception
    assert at.metric[0].value == "10"
    assert EXPLORER not in texts(at.caption)[0]
    with_them = app(xev="1")
    with_them.switch_page("pages/activity.py")
    with_them.run()
    assert with_them.metric[0].value == "13"
