"""The explorer's web server: `streamlit run serve.py` (`make run` does it). Streamlit's own server running
app.py, with each page's HTML naming the server's base URL (explorer/shell.py says why)."""

from __future__ import annotations

import streamlit as st

from explorer.shell import page_routes

app = st.App("app.py", routes=page_routes(st.get_option("server.baseUrlPath")))
