"""Activity in a real browser (issue 14.8): a click on a chart's bar opens Search with that bar's filter, and
coming back to Activity shows the charts again (a plotly selection event only a browser sends)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import screenshot, url, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def params(pg) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url(pg)).query)


def test_clicking_an_action_bar_opens_search_filtered_to_that_action(page, server):
    page.goto(f"{server}/activity")
    page.get_by_role("heading", name="Activity", exact=True).wait_for()
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="By action")
    bars = chart.locator("g.trace.bars g.point path")
    bars.first.wait_for()
    wait_idle(page)
    chart.scroll_into_view_if_needed()
    # the bar under the x axis label "Create" (the chart's bars are in count order, its legend is not)
    tick = chart.locator("g.xtick text").filter(has_text="Create").bounding_box()
    assert tick is not None, "the action chart has a Create bar"
    boxes = [b for b in (bars.nth(i).bounding_box() for i in range(bars.count())) if b]
    box = min(boxes, key=lambda b: abs(b["x"] + b["width"] / 2 - (tick["x"] + tick["width"] / 2)))
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)  # plotly picks the clicked point from the hover
    page.wait_for_timeout(200)
    page.mouse.click(x, y)
    page.get_by_role("heading", name="Search", exact=True).wait_for(timeout=30_000)
    wait_idle(page)
    assert params(page).get("act") == ["Create"], params(page)
    screenshot(page, "activity-click-to-search")
    page.locator('[data-testid="stSidebar"]').get_by_text("Activity", exact=True).click()
    page.get_by_role("heading", name="Activity", exact=True).wait_for()
    wait_idle(page)
    page.wait_for_timeout(500)
    assert page.get_by_role("heading", name="Activity", exact=True).count() == 1  # not sent to Search again
    assert page.get_by_text("actions: Create").count() >= 1
