"""Issue 14, as new users met it, in headless Chromium against a real `streamlit run app.py`: in-page links
change the address, typed dates are searched, no unaudited grid download, data never becomes a live link,
busy entities stay short, and old correlation ids can be found from the form."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from audit_query import AuditLogQuery
from explorer.fmt import entity_label, pretty_json
from tests.browser.conftest import OLD_CORRELATION, OLD_DAYS, PHISH, screenshot, url, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def open_page(pg, address: str) -> None:
    pg.goto(address)
    pg.locator('[data-testid="stSidebar"]').get_by_text("Pipeline", exact=True).wait_for()
    wait_idle(pg)


def params(pg) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url(pg)).query)


def heading(pg, text: str) -> None:
    pg.get_by_role("heading", name=text, exact=True).wait_for()


def type_date(pg, label: str, day: date) -> None:
    """Type a date into a date field the way a user does: click its year, type the digits."""
    pg.get_by_role("spinbutton", name=f"year, {label}").click()
    pg.keyboard.type(f"{day.year:04d}{day.month:02d}{day.day:02d}")
    pg.wait_for_timeout(200)


def order_with_children(lib, demo_data) -> tuple[str, list[tuple[str, str]]]:
    for oid in demo_data[1].sample_order_ids:
        rows = lib.history(oid)
        kids = sorted({(r.EntityType, r.EntityId) for r in rows if r.EntityParentId == oid}, key=str)
        if kids:
            return oid, kids
    raise AssertionError("no sample order with children")


# 1. Links inside the Entity page push a history entry with the full view in the URL.
def test_entity_links_change_the_address_so_reload_and_back_work(page, server, lib, demo_data):
    oid, kids = order_with_children(lib, demo_data)
    ctype, cid = kids[0]
    open_page(page, f"{server}/entity?eid={quote(oid)}")
    heading(page, f"Order {oid}")
    page.get_by_role("link", name=entity_label(ctype, cid), exact=True).first.click()
    heading(page, entity_label(ctype, cid))
    wait_idle(page)
    assert params(page)["eid"] == [cid]
    page.reload()
    heading(page, entity_label(ctype, cid))  # Reload shows the child, not the order
    wait_idle(page)
    page.get_by_role("link", name=f"Up to parent Order {oid}").click()
    heading(page, f"Order {oid}")
    wait_idle(page)
    assert params(page)["eid"] == [oid]
    page.go_back()
    heading(page, entity_label(ctype, cid))
    wait_idle(page)
    assert params(page)["eid"] == [cid]
    page.go_back()
    heading(page, f"Order {oid}")
    wait_idle(page)
    assert params(page)["eid"] == [oid]
    # the Parent link inside a change card
    change = next(r for r in lib.history(cid) if r.EntityId == cid and r.EntityParentId == oid)
    open_page(page, f"{server}/entity?eid={quote(cid)}&sel={quote(change.Id)}")
    page.get_by_role("link", name=f"Parent: Order {oid}").click()
    heading(page, f"Order {oid}")
    wait_idle(page)
    assert params(page)["eid"] == [oid] and "from" in params(page)
    page.go_back()
    heading(page, entity_label(ctype, cid))


def test_a_pasted_link_is_one_history_entry_however_it_is_spelt(page, server):
    before = page.evaluate("history.length")
    open_page(page, f"{server}/?actor=alice@example.com")  # a raw @, which the app would spell %40
    assert page.evaluate("history.length") == before + 1
    assert params(page)["actor"] == ["alice@example.com"]


# 2. Typed dates are never silently ignored; every result caption states the dates searched.
def test_typed_dates_are_the_dates_searched_and_the_caption_says_so(page, server, lib):
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=2), today - timedelta(days=1)
    expected = lib.count(AuditLogQuery(start, end, tuple(lib.sources())))
    open_page(page, server)
    type_date(page, "From", start)
    type_date(page, "To", end)
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    page.get_by_text(f"between {start} and {end}").first.wait_for()
    wait_idle(page)
    assert params(page)["from"] == [start.isoformat()] and params(page)["to"] == [end.isoformat()]
    assert page.get_by_text(f"{expected:,} matching rows").count() == 1
    screenshot(page, "search-typed-dates")


# 3. No grid offers its own (unaudited, unneutralised) CSV download.
def test_no_grid_has_a_toolbar_download(page, server, lib, demo_data):
    oid = demo_data[1].sample_order_ids[0]
    corr = next(r.CorrelationId for r in lib.history(oid) if r.CorrelationId)
    for address in (server, f"{server}/correlation?corr={quote(corr)}"):
        open_page(page, address)
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for()
        grid.hover()
        page.wait_for_timeout(400)
        toolbar = page.locator('[data-testid="stElementToolbar"] button')
        labels = [b.get_attribute("aria-label") or "" for b in toolbar.all()]
        assert labels, "the grid toolbar did not show"
        assert not [x for x in labels if "download" in x.lower()], labels


def external_links(pg) -> list[str]:
    """Links in the page body that leave the app (absolute http(s) or mailto addresses)."""
    hrefs = pg.locator('[data-testid="stMain"] a[href]').evaluate_all("els => els.map(e => e.href)")
    own = urlsplit(url(pg)).netloc
    return [
        h for h in hrefs if h.startswith("mailto:") or (h.startswith("http") and urlsplit(h).netloc != own)
    ]


# 4. Data and URL text never become live links.
def test_urls_and_mail_addresses_in_data_and_the_url_are_plain_text(page, server, lib):
    eid = PHISH["entity_id"]
    row = lib.history(eid)[0]
    open_page(page, f"{server}/entity?eid={quote(eid)}&at=2099-01-01T00:00:00Z&sel={quote(row.Id)}")
    heading(page, f"Order {eid}")
    page.locator('[data-testid="stMarkdownContainer"]', has_text=PHISH["actor"]).first.wait_for()
    for x in page.locator('[data-testid="stExpander"] summary').all():
        x.click()
    wait_idle(page)
    assert external_links(page) == []
    screenshot(page, "entity-hostile")
    open_page(page, f"{server}/correlation?corr={quote(PHISH['correlation_id'])}")
    page.locator('[data-testid="stMarkdownContainer"]', has_text=PHISH["actor"]).first.wait_for()
    assert external_links(page) == []
    open_page(page, f"{server}/?eid={quote(eid)}&sel={quote(row.Id)}")
    page.locator('[data-testid="stMarkdownContainer"]', has_text=PHISH["actor"]).first.wait_for()
    assert external_links(page) == []


# 5. Busy entities: timeline, state and a compact change list first; the full diff on demand, in pages.
def test_a_busy_entity_shows_a_compact_list_first_and_a_diff_on_demand(page, server, lib, demo_data):
    oid = max(demo_data[1].sample_order_ids, key=lambda o: len(lib.history(o)))
    rows = lib.history(oid)
    assert len(rows) >= 8
    open_page(page, f"{server}/entity?eid={quote(oid)}")
    heading(page, f"Order {oid}")
    state = page.get_by_role("heading", name="State at a point in time").bounding_box()
    changes = page.get_by_role("heading", name="Changes", exact=True).bounding_box()
    assert state["y"] < changes["y"], "the state section comes before the list of changes"
    assert page.locator('[data-testid="stTable"]').count() == 0, "no full diff before one is chosen"
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    assert height < 3000, f"the page is {height} px tall for {len(rows)} changes"
    page.locator('[data-testid="stDataFrame"]').first.scroll_into_view_if_needed()
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(grid["x"] + 16, grid["y"] + 35 * 1.5)  # tick the first row
    page.locator('[data-testid="stTable"]').first.wait_for()
    wait_idle(page)
    assert params(page)["sel"] == [rows[0].Id]
    assert page.get_by_text(f" · by {rows[0].ActorName}").count() >= 1
    tall = page.viewport_size
    page.set_viewport_size({"width": 1500, "height": 2000})
    wait_idle(page)
    screenshot(page, "entity-busy")
    page.set_viewport_size(tall)


# 7. Every field of a change, whole, under "Every field in full": drawn when the user opens it.
def test_every_field_in_full_is_drawn_when_opened(page, server, lib, demo_data):
    oid = demo_data[1].sample_order_ids[0]
    change = next(r for r in lib.history(oid) if r.EntityId == oid and r.After)
    open_page(page, f"{server}/entity?eid={quote(oid)}&sel={quote(change.Id)}")
    heading(page, f"Order {oid}")
    blocks = page.locator('[data-testid="stHtml"] pre')
    assert blocks.count() == 0, "a closed section is not drawn"
    page.locator('[data-testid="stExpander"] summary').filter(has_text="Every field in full").click()
    blocks.last.wait_for()
    wait_idle(page)
    assert blocks.last.inner_text().strip() == pretty_json(change.After)


# 6. The Correlation page has its own dates, so an old request is found from the form.
def test_an_old_correlation_id_is_found_from_the_form(page, server):
    old = datetime.now(UTC).date() - timedelta(days=OLD_DAYS)
    open_page(page, f"{server}/correlation")
    page.get_by_label("Correlation id").fill(OLD_CORRELATION)
    type_date(page, "From", old - timedelta(days=2))
    type_date(page, "To", old + timedelta(days=2))
    page.get_by_role("button", name="Show").click()
    page.get_by_text("1 change to 1 entity").first.wait_for()
    wait_idle(page)
    assert params(page)["corr"] == [OLD_CORRELATION]
    assert params(page)["from"] == [(old - timedelta(days=2)).isoformat()]
