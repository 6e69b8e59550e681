"""Issue 13 in headless Chromium: "which orders went to status Cancelled" typed into the Search form of a real
`streamlit run app.py`, answered as a plain DuckDB query over Before/After of the same Parquet says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.audit_query import changes_data as cd
from tests.browser.conftest import open_more_filters, running_explorer, screenshot, url, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def changes_server(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("browser-changes")
    cd.build(data_dir, datetime.now(UTC).date(), legacy=False)
    logs = tmp_path_factory.mktemp("streamlit-changes")
    with running_explorer(data_dir, logs, AUDITLOG_ACCESS_LOG="off") as base:
        yield base, data_dir


def test_orders_that_went_to_cancelled_this_week_from_the_form(page, changes_server) -> None:
    base, data_dir = changes_server
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in range(7)]
    want = [e for day in days for _, e, _ in cd.oracle(data_dir, cd.WENT_TO_CANCELLED, [day])]
    assert sorted(want) == ["o-1", "o-2", "o-4", "o-6"]  # o-4 went to "cancelled": any case of letters
    page.goto(base)
    page.locator('[data-testid="stSidebar"]').get_by_text("Pipeline", exact=True).wait_for()
    wait_idle(page)
    open_more_filters(page)
    page.get_by_label("Changed field").fill("status")
    page.get_by_label("Changed to").fill("Cancelled")
    page.get_by_test_id("stBaseButton-primaryFormSubmit").click()
    page.get_by_text(f"{len(want)} matching rows").wait_for()
    wait_idle(page)
    assert "chf=status" in url(page) and "chto=Cancelled" in url(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "search-changed-field")
    page.goto(url(page))  # the link alone reproduces the view
    page.get_by_text(f"{len(want)} matching rows").wait_for()
