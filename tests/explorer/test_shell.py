"""explorer/shell.py without a server: which paths get the page shell, and what the shell adds."""

from __future__ import annotations

import pytest

from explorer.menu import PAGES
from explorer.shell import page_routes, shell_html


def test_every_menu_page_and_only_those_get_the_shell():
    pages = [p.url_path for p in PAGES if p.url_path]
    assert [r.path for r in page_routes("")] == sorted(["/", *(f"/{p}" for p in pages)])
    assert [r.path for r in page_routes("/audit/")] == sorted(["/audit", *(f"/audit/{p}" for p in pages)])


def test_the_shell_is_streamlits_page_with_the_base_url_before_its_bundle():
    page = "<head><title>t</title><script type=module src=./static/js/index.js></script></head>"
    out = shell_html(page, "/audit/")
    assert out.replace(out[out.index("<script>") : out.index("<script type=module")], "") == page
    assert 'BACKEND_BASE_URL: new URL("/audit/", window.location.origin).href' in out
    assert out.index("BACKEND_BASE_URL") < out.index("index.js")


def test_a_streamlit_page_without_a_script_is_refused_with_a_message():
    with pytest.raises(ValueError, match="no <script>"):
        shell_html("<html></html>", "/")
