"""The HTML every explorer page is served with: Streamlit's own index.html, plus one line naming the
server's base URL, so a page opened by its address connects at once.

Without it, Streamlit's frontend guesses the server from the address: for /entity it first asks
/entity/_stcore/health, gets a 404, waits its 100 ms retry timer and then asks /_stcore/health (measured:
~85 ms of every non-root page open in Chromium, bench/RESULTS.md). The frontend reads
`window.__streamlit.BACKEND_BASE_URL` (the hook it has for hosts that embed it) before it connects.
"""

from __future__ import annotations

import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from streamlit import file_util

from .menu import PAGES

#: Streamlit marks its HTML "no-cache" (hashed bundles are cached); the shell is served the same way.
_HEADERS = {"Cache-Control": "no-cache"}


def base_path(base_url_path: str) -> str:
    """The app's path prefix from `server.baseUrlPath`, with slashes on both ends.

    >>> base_path(""), base_path("audit"), base_path("/tools/audit/")
    ('/', '/audit/', '/tools/audit/')
    """
    inner = base_url_path.strip("/")
    return f"/{inner}/" if inner else "/"


def shell_html(index_html: str, base: str) -> str:
    """`index_html` with the base-URL line before its first script (the app's bundle is a module script,
    which runs after it).

    >>> html = shell_html("<head><script>x</script></head>", "/audit/")
    >>> html.removeprefix("<head><script>").removesuffix("</script><script>x</script></head>")
    'window.__streamlit = {BACKEND_BASE_URL: new URL("/audit/", window.location.origin).href};'
    """
    if "<script" not in index_html:
        raise ValueError("Streamlit's index.html has no <script>: this Streamlit version is not supported")
    line = (
        f"<script>window.__streamlit = {{BACKEND_BASE_URL: new URL({_js_string(base)}, "
        "window.location.origin).href};</script>"
    )
    return index_html.replace("<script", line + "<script", 1)


def _js_string(text: str) -> str:
    """`text` as a JavaScript string literal that cannot end the inline <script> it stands in.

    >>> print(_js_string("/a</script>/"))
    "/a\\u003c/script>/"
    """
    return json.dumps(text).replace("<", "\\u003c")


def page_routes(base_url_path: str) -> list[Route]:
    """One route per page of the menu (the root for the start page) answering with the shell; every other
    path is Streamlit's as before. The shell is built here, at server start, so a Streamlit whose
    index.html this cannot read fails then, with its message, not on the first page open."""
    base = base_path(base_url_path)
    index = Path(file_util.get_static_dir()) / "index.html"
    html = shell_html(index.read_text(encoding="utf-8"), base)

    async def shell(request: Request) -> HTMLResponse:
        return HTMLResponse(html, headers=_HEADERS)

    paths = {(base + p.url_path).rstrip("/") or "/" for p in PAGES}
    return [Route(path, shell, methods=["GET"]) for path in sorted(paths)]
