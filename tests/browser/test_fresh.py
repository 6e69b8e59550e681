"""Issue 12 in a real browser: an ingested event is marked "not yet processed" on Search and on its Entity
page; after the ETL runs it is a stored row, the count is unchanged and no row appears twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from etl.local import run_etl
from tests.browser.conftest import running_explorer, wait_idle
from tests.etl.conftest import make_event, write_raw

pytestmark = pytest.mark.browser


def test_an_ingested_event_is_marked_then_stored_once(page, tmp_path) -> None:
    data_dir = tmp_path / "data"
    now = datetime.now(UTC)
    stamp = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_raw(data_dir, now, [make_event(1, time=stamp)], name="a.json.gz")
    run_etl(data_dir, now.date())
    stamp = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_raw(data_dir, now, [make_event(2, time=stamp)], name="b.json.gz")  # ingested, not yet run
    with running_explorer(data_dir, tmp_path, AUDITLOG_CACHE_TTL_SECONDS="3600") as base:
        page.goto(base)
        page.get_by_text("2 matching rows").wait_for()
        page.get_by_text("1 row on this page is not yet processed").wait_for()
        page.get_by_text("1 event not yet processed").wait_for()
        page.goto(f"{base}/entity?eid=o-2")
        page.get_by_text("Dashed ring: not yet processed").wait_for()
        page.locator(".entity-timeline span[title^='not yet processed']").wait_for()
        wait_idle(page)
        assert page.locator(".entity-timeline span[title^='not yet processed']").count() == 1
        run_etl(data_dir, now.date())
        page.goto(base)
        page.get_by_text("2 matching rows").wait_for()
        wait_idle(page)
        assert page.get_by_text("not yet processed (Stored column)").count() == 0
        page.get_by_text("0 events not yet processed").wait_for()
        page.goto(f"{base}/entity?eid=o-2")
        page.get_by_text("1 change to 1 entity").wait_for()
        wait_idle(page)
        page.locator(".entity-timeline").wait_for()
        assert page.locator(".entity-timeline span[title^='not yet processed']").count() == 0
