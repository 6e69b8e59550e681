"""Make sure every page runs inside app.py (its settings, sign-in gate and navigation).

Streamlit still knows the old "pages/ folder" mode: until the first run of app.py in a server process calls
`st.navigation`, a link straight to a page (e.g. /entity?eid=100234 as the first request after a restart)
runs pages/entity.py on its own, which would skip the sign-in gate. app.py marks each run; a page that finds
no mark runs app.py in its place (which registers the navigation, checks the user and runs the page again),
so the first request is served as usual, clicks included.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st

MARK = "_explorer_app_ran"
APP = Path(__file__).resolve().parents[1] / "app.py"


def mark_app_run() -> None:
    """Called by app.py right before it runs the selected page."""
    st.session_state[MARK] = True


def require_app() -> None:
    """First call of every page: continue only when app.py started this run, else run app.py instead."""
    if st.session_state.pop(MARK, False):
        return
    if APP.is_file():
        runpy.run_path(str(APP), run_name="__main__")
    else:
        st.error("Open the explorer from its start page.")
    st.stop()
