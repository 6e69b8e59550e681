"""Activity in a real browser (issue 14.8): a click on a chart's bar opens Search with that bar's filter, and
coming back to Activity shows the charts again (a Vega-Lite selection event only a browser sends); data with
HTML in it is drawn as the text it is, in the axis and in the tooltip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from audit_query import AuditLogQuery
from etl.local import run_all
from tests.browser.conftest import more_header, put_change, running_explorer, screenshot, url, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

#: An actor name that would inject an image (running a script) and bold text if a chart drew it as HTML.
HOSTILE_ACTOR = "<img src=x onerror=alert(1)><b>x</b>"
CHART = '[data-testid="stVegaLiteChart"]'


def params(pg) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url(pg)).query)


def chart_titled(pg, title: str):
    """The Vega-Lite chart titled `title`, drawn (as SVG: the charts are far below Streamlit's 2,000 marks
    for a canvas)."""
    chart = pg.locator(CHART).filter(has_text=title)
    chart.locator("svg g.mark-rect path").first.wait_for()
    return chart


def bar_under(chart, label: str) -> tuple[float, float]:
    """The centre of the bar whose category axis label is `label` (a vertical chart's x axis)."""
    tick = chart.locator("g.role-axis-label text").filter(has_text=label).first.bounding_box()
    assert tick is not None, f"the chart has a {label} bar"
    bars = chart.locator("g.mark-rect path")
    boxes = [b for b in (bars.nth(i).bounding_box() for i in range(bars.count())) if b]
    centre = tick["x"] + tick["width"] / 2
    box = min(boxes, key=lambda b: abs(b["x"] + b["width"] / 2 - centre))
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def click_bar(pg, chart, label: str) -> None:
    """Click the bar over the axis label `label` as a user does (hover, then click) and wait for the
    Search page it opens."""
    chart.scroll_into_view_if_needed()
    x, y = bar_under(chart, label)
    pg.mouse.move(x, y)
    pg.wait_for_timeout(200)
    pg.mouse.click(x, y)
    pg.get_by_role("heading", name="Search", exact=True).wait_for(timeout=30_000)
    wait_idle(pg)


def test_clicking_an_action_bar_opens_search_filtered_to_that_action(page, server):
    page.goto(f"{server}/activity")
    page.get_by_role("heading", name="Activity", exact=True).wait_for()
    chart = chart_titled(page, "By action")
    wait_idle(page)
    screenshot(page, "activity-charts")
    click_bar(page, chart, "Create")  # the chart's bars are in count order: found by their axis label
    assert params(page).get("act") == ["Create"], params(page)
    screenshot(page, "activity-click-to-search")
    page.locator('[data-testid="stSidebar"]').get_by_text("Activity", exact=True).click()
    page.get_by_role("heading", name="Activity", exact=True).wait_for()
    chart_titled(page, "By action")
    wait_idle(page)
    page.wait_for_timeout(500)
    assert page.get_by_role("heading", name="Activity", exact=True).count() == 1  # not sent to Search again
    assert page.get_by_text("actions: Create").count() >= 1
    assert page.locator(CHART).count() == 4


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    """An explorer over two changes by HOSTILE_ACTOR (its own data: the shared demo stays as other tests
    count it)."""
    data_dir = tmp_path_factory.mktemp("hostile-data")
    now = datetime.now(UTC)
    for i in range(2):
        put_change(
            data_dir,
            now - timedelta(minutes=2 + i),
            f"xss-order-{i}",
            "an order",
            HOSTILE_ACTOR,
            f"req-xss-{i}",
            {"status": "new"},
            {"status": "paid"},
        )
    run_all(data_dir)
    with running_explorer(data_dir, tmp_path_factory.mktemp("hostile-streamlit")) as base:
        yield base


def test_html_in_an_actor_name_is_drawn_as_text_in_the_axis_and_the_tooltip(page, hostile_server):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{hostile_server}/activity")
    chart = chart_titled(page, "Top 1 actors")
    wait_idle(page)
    # the axis label is SVG text, as typed (Vega-Lite cuts labels over 180 px with an ellipsis)
    labels = chart.locator("g.role-axis-label text").all_text_contents()
    shown = [t.removesuffix("…") for t in labels if t.startswith("<img")]
    assert shown and HOSTILE_ACTOR.startswith(shown[0]), labels
    bar = chart.locator("g.mark-rect path").first.bounding_box()
    assert bar is not None
    page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
    tooltip = page.locator("#vg-tooltip-element.visible")
    tooltip.wait_for()
    assert HOSTILE_ACTOR in tooltip.inner_text()  # the whole name, as typed
    assert tooltip.locator("img, b").count() == 0
    # nothing was injected anywhere: no image, no bold element in a chart, no script run
    assert page.locator("img[src='x']").count() == 0
    assert page.locator(f"{CHART} img, {CHART} b").count() == 0
    assert dialogs == []


def test_an_actor_type_from_activity_stays_applied_after_closing_more_filters(page, server, lib):
    """Search first (its More filters closed), then Activity's "By actor type" bar: Search opens with the
    section open and that filter in use; closed again, the next search keeps it."""
    page.goto(server)
    page.get_by_role("heading", name="Search", exact=True).wait_for()
    wait_idle(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("Activity", exact=True).click()
    chart = chart_titled(page, "By actor type")
    wait_idle(page)
    click_bar(page, chart, "User")
    assert params(page).get("atype") == ["User"], params(page)
    page.get_by_label("Actor types").wait_for()  # opened: the filter in use is shown
    more_header(page, "More filters · 1 in use").click()
    page.get_by_label("Actor types").wait_for(state="detached")
    wait_idle(page)
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    wait_idle(page)
    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()), actor_types=("User",))
    page.get_by_text(f"{lib.count(q):,} matching rows").wait_for()
    assert params(page).get("atype") == ["User"], params(page)
