"""A page opened by its own address (a shared link, Reload) connects to the server at once (issue 14,
"every page open"): Streamlit's frontend first tries `<page>/_stcore/health`, which is a 404, and only after
a 100 ms retry timer tries the app's root. serve.py names the server's base URL in the page's HTML."""

from __future__ import annotations

import pytest

from tests.browser.conftest import running_explorer, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def opened(page, address: str, heading: str) -> list[str]:
    """Open `address` until `heading` shows and the run ends; the `_stcore` paths the page asked for."""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/_stcore/" in r.url else None)
    page.goto(address)
    page.get_by_role("heading", name=heading, exact=True).first.wait_for()
    wait_idle(page)
    return asked


@pytest.mark.parametrize(
    ("path", "heading"),
    [("entity", "Entity history"), ("activity", "Activity"), ("pipeline", "Pipeline"), ("", "Search")],
)
def test_a_page_opened_by_its_address_asks_the_root_for_health_only(page, server, path, heading):
    asked = opened(page, f"{server}/{path}", heading)
    health = [u for u in asked if u.endswith("/_stcore/health")]
    assert health == [f"{server}/_stcore/health"], asked


def test_a_base_url_path_is_kept(page, demo_data, tmp_path):
    """Behind a proxy prefix (server.baseUrlPath) the page still connects at once, under the prefix."""
    args = ("--server.baseUrlPath", "audit")
    with running_explorer(demo_data[0], tmp_path, args=args, health_path="audit/_stcore/health") as base:
        asked = opened(page, f"{base}/audit/entity", "Entity history")
        assert [u for u in asked if u.endswith("/_stcore/health")] == [f"{base}/audit/_stcore/health"], asked
        page.get_by_role("link", name="Pipeline").click()
        page.get_by_role("heading", name="Pipeline", exact=True).wait_for()
        assert page.evaluate("location.pathname") == "/audit/pipeline"
