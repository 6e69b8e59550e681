"""The explorer in headless Chromium against a real `streamlit run app.py` over demo data + ETL output."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest

from audit_query import AuditLogQuery
from explorer.fmt import entity_label, time_text
from tests.browser.conftest import more_header, open_more_filters, screenshot, url, wait_idle
from tests.sqli import sqli_lines

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def week(lib, **filters) -> AuditLogQuery:
    today = datetime.now(UTC).date()
    return AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()), **filters)


def open_page(pg, address: str) -> None:
    pg.goto(address)
    # The app's own navigation (titles, icons) replaces Streamlit's first guess from the pages/ folder.
    pg.locator('[data-testid="stSidebar"]').get_by_text("Pipeline", exact=True).wait_for()
    wait_idle(pg)


def tall(pg) -> None:
    """Streamlit scrolls inside its main block, so a full-page screenshot needs a tall window."""
    pg.set_viewport_size({"width": 1500, "height": 2600})
    wait_idle(pg)


def select_row(pg, index: int) -> None:
    """Tick the row-selection box of grid row `index` (the grid is a canvas: click by position)."""
    box = pg.locator('[data-testid="stDataFrame"]').first.bounding_box()
    pg.mouse.click(box["x"] + 16, box["y"] + 35 * (index + 1.5))
    pg.get_by_text("Selected change").wait_for()
    wait_idle(pg)


def selected_header(pg) -> str:
    return (
        pg.locator('[data-testid="stMarkdownContainer"] strong').filter(has_text=" · by ").first.inner_text()
    )


def header_of(r) -> str:
    return (
        f"{time_text(r.Timestamp)} · {r.Action} · {entity_label(r.EntityType, r.EntityId)} · by {r.ActorName}"
    )


def no_traceback(pg) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in pg.content()


def test_a_shared_order_link_shows_its_timeline_with_child_items(page, server, lib, demo_data):
    oid = demo_data[1].sample_order_ids[0]
    rows = lib.history(oid)
    children = {(r.EntityType, r.EntityId) for r in rows if r.EntityParentId == oid}
    assert any(t == "OrderItem" for t, _ in children)
    open_page(page, f"{server}/entity?eid={quote(oid)}")
    page.get_by_role("heading", name=f"Order {oid}").wait_for()
    assert page.get_by_text(f"{len(rows)} changes to ").count() == 1
    page.locator(".entity-timeline").wait_for()
    for ctype, cid in children:
        assert page.get_by_role("link", name=entity_label(ctype, cid), exact=True).count() == 1
    no_traceback(page)
    tall(page)
    screenshot(page, "entity")


def test_search_by_actor_then_page_forward_and_back_and_select_rows(page, server, lib):
    counts = lib.counts(week(lib), "actor")
    actor = next(r.key for r in counts if r.key and 150 < r.count < 2000)
    q = week(lib, actor_name=actor)
    first = lib.query(q)
    second = lib.query(q.next_query(first))
    open_page(page, server)
    page.get_by_label("Actor name").fill(actor)
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    page.get_by_text(f"{lib.count(q):,} matching rows").wait_for()
    wait_idle(page)
    assert "actor=" in url(page)

    page.get_by_role("button", name="Next").click()
    page.wait_for_function("() => location.search.includes('cursor=')")
    wait_idle(page)
    select_row(page, 0)
    assert selected_header(page).startswith(header_of(second.rows[0]))
    # the diff table streams in after the header (and before "Every field in full"): wait for it
    page.locator('[data-testid="stTable"]').first.get_by_text("changed").first.wait_for(timeout=10_000)
    assert "sel=" in url(page)

    page.get_by_role("button", name="Previous").click()
    page.wait_for_function("() => location.search.includes('dir=prev')")
    wait_idle(page)
    select_row(page, 1)
    assert selected_header(page).startswith(header_of(first.rows[1]))
    no_traceback(page)
    tall(page)
    screenshot(page, "search")


@pytest.mark.parametrize("fmt,label", [("csv", "CSV"), ("parquet", "Parquet")])
def test_export_downloads_every_row_of_the_filtered_view(page, server, lib, tmp_path, fmt, label):
    actor = "alice@example.com"
    expected = [r.Id for p in lib.iter_pages(week(lib, actor_name=actor, actions=["Update"])) for r in p.rows]
    assert expected
    open_page(page, f"{server}/?actor={quote(actor)}&act=Update")
    page.get_by_text("Export this view").click()
    page.get_by_text(f"{len(expected):,} rows match these filters").wait_for()
    page.locator('[data-testid="stRadio"]').get_by_text(label, exact=True).click()
    wait_idle(page)
    page.get_by_role("button", name="Prepare file").click()
    button = page.get_by_role("button", name=f"Download {label} ({len(expected):,} rows)")
    button.wait_for()
    with page.expect_download() as info:
        button.click()
    target = tmp_path / f"export.{fmt}"
    info.value.save_as(target)
    if fmt == "csv":
        ids = [row["Id"] for row in csv.DictReader(io.StringIO(target.read_text(encoding="utf-8")))]
    else:
        ids = pq.read_table(target).column("Id").to_pylist()
    assert ids == expected


def hostile_samples() -> list[str]:
    lines = [x for x in sqli_lines() if x.strip()]
    quotes = [x for x in lines if "'" in x]
    return [quotes[0], quotes[len(quotes) // 2], max(lines, key=len)]


def search_for_part_of_an_actor(pg, lib) -> tuple[str, int]:
    """From a session started at the plain Search page (the section closed): open More filters, search
    for part of an actor's name; the part and the rows it matches."""
    actor = next(r.ActorName for r in lib.query(week(lib)).rows if r.ActorName)
    part = actor[1:4]
    expected = lib.count(week(lib, actor_contains=part))
    open_more_filters(pg)
    pg.get_by_label("Actor contains").fill(part)
    pg.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    pg.get_by_text(f"{expected:,} matching rows").wait_for()
    wait_idle(pg)
    return part, expected


def test_a_filter_of_a_closed_more_filters_section_stays_applied(page, server, lib):
    """Closed after use, the section's filter still counts in the next search, and the section stays
    closed (a Search, a Next)."""
    open_page(page, server)
    part, expected = search_for_part_of_an_actor(page, lib)
    more_header(page).click()
    page.get_by_label("Actor contains").wait_for(state="detached")
    wait_idle(page)
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    wait_idle(page)
    page.get_by_text(f"{expected:,} matching rows").wait_for()
    assert f"actorq={part}" in url(page), "the closed section's filter was dropped"
    assert page.get_by_label("Actor contains").count() == 0, "the section the user closed opened again"
    assert "More filters · 1 in use" in more_header(page).inner_text()


def test_a_more_filters_value_survives_another_page_and_a_new_search(page, server, lib):
    open_page(page, server)
    part, expected = search_for_part_of_an_actor(page, lib)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Entity", exact=True).click()
    page.get_by_role("heading", name="Entity history").wait_for()
    wait_idle(page)
    sidebar.get_by_text("Search", exact=True).click()
    page.get_by_text(f"{expected:,} matching rows").wait_for()
    wait_idle(page)
    assert page.get_by_label("Actor contains").input_value() == part
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    wait_idle(page)
    page.get_by_text(f"{expected:,} matching rows").wait_for()
    assert f"actorq={part}" in url(page)


def test_a_section_the_user_opened_stays_open_on_the_next_page(page, server):
    open_page(page, server)
    open_more_filters(page)
    page.get_by_role("button", name="Next").click()
    page.wait_for_function("() => location.search.includes('cursor=')")
    wait_idle(page)
    assert page.get_by_label("Actor contains").count() == 1, "Next closed the section the user opened"


@pytest.mark.parametrize("hostile", hostile_samples())
def test_a_hostile_text_filter_gives_results_or_a_validation_message(page, server, hostile):
    open_page(page, server)
    page.get_by_label("Actor name").fill(hostile)
    open_more_filters(page)
    page.get_by_label("Correlation id").fill(hostile)
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    page.wait_for_function("() => location.search.includes('actor=')")
    wait_idle(page)
    no_traceback(page)
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert all("query engine failed" not in e and "went wrong" not in e for e in errors)
    assert errors or page.get_by_text("No events match").count() == 1


def test_correlation_activity_and_pipeline_pages_render(page, server, lib, demo_data):
    oid = demo_data[1].sample_order_ids[0]
    corr = next(r.CorrelationId for r in lib.history(oid) if r.EntityId == oid and r.Action == "Create")
    page.set_viewport_size({"width": 1500, "height": 2600})
    open_page(page, f"{server}/correlation?corr={quote(corr)}")
    page.get_by_text(f"{len(lib.correlation(corr))} changes to ").wait_for()
    page.locator('[data-testid="stTable"] td').first.wait_for()
    no_traceback(page)
    screenshot(page, "correlation")

    open_page(page, f"{server}/activity")
    page.locator('[data-testid="stVegaLiteChart"]').nth(2).wait_for()
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == f"{lib.count(week(lib)):,}"
    no_traceback(page)
    screenshot(page, "activity")

    open_page(page, f"{server}/pipeline")
    page.get_by_text(re.compile("^events up to ")).wait_for()
    page.get_by_text("Quarantine", exact=True).wait_for()
    no_traceback(page)
    screenshot(page, "pipeline")


def test_the_back_button_returns_to_the_previous_page_of_results(page, server, lib):
    q = week(lib, actor_name="shipping-service")
    assert lib.count(q) > 100
    open_page(page, f"{server}/?actor=shipping-service")
    page.get_by_role("button", name="Next").click()
    page.wait_for_function("() => location.search.includes('cursor=')")
    wait_idle(page)
    assert not page.get_by_role("button", name="Previous").is_disabled()
    page.go_back()
    page.wait_for_function("() => !location.search.includes('cursor=')")
    wait_idle(page)
    assert page.get_by_role("button", name="Previous").is_disabled()
    assert "actor=shipping-service" in url(page)


def test_everything_alice_did_typed_as_part_of_the_name_in_any_case(page, server, lib):
    """Issue 13: "everything alice did" typed as `ALICE` in the Actor contains field finds every name holding
    it (any case), as an oracle over the library's own rows says. The field is in "More filters", which is
    drawn only once opened; opening it keeps what was already typed in the form."""
    counts = lib.counts(week(lib), "actor")
    actor = next(r.key for r in counts if r.key and "@" in r.key and r.count > 10)
    part = actor.split("@")[0][1:].upper()  # not the whole name, not its case
    expected = sum(r.count for r in counts if r.key and part.lower() in r.key.lower())
    assert lib.count(week(lib, actor_contains=part)) == expected
    open_page(page, server)
    assert page.get_by_label("Actor contains").count() == 0  # closed: not drawn at all
    page.get_by_label("Entity id").fill("typed before opening")
    open_more_filters(page)
    assert page.get_by_label("Entity id").input_value() == "typed before opening"
    page.get_by_label("Entity id").fill("")
    page.get_by_label("Actor contains").fill(part)
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    page.get_by_text(f"{expected:,} matching rows").wait_for()
    wait_idle(page)
    assert "actorq=" in url(page)
    no_traceback(page)
