"""Keep each page's view in the URL (st.query_params) and in session state, so a link shares the view,
the back button works, and the view survives switching pages (Streamlit clears the URL on a page switch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

_STORE = "_views"
_IGNORED = {"embed", "embed_options"}


def read(page: str) -> dict[str, list[str]]:
    """The page's parameters: from the URL when it has any, else the page's last view (restored into the
    URL), else empty."""
    current = {k: st.query_params.get_all(k) for k in st.query_params.keys() if k not in _IGNORED}
    store: dict[str, dict[str, list[str]]] = st.session_state.setdefault(_STORE, {})
    if current:
        if page in store and store[page] != current:
            # Another view of a page this session showed: maybe from a link to this same page
            # (st.page_link), which runs the page with the link's parameters but leaves the address bar
            # alone. Sending them back makes the browser push a history entry when its address differs
            # (Reload, a copied link and Back then follow the view); when it already shows them nothing
            # happens. Not on a session's first view: a pasted address spelt differently (a raw `@` or
            # `:`) would get a second history entry.
            st.query_params.from_dict(current)
        store[page] = current
        return current
    saved = store.get(page)
    if saved:
        st.query_params.from_dict(saved)
        return dict(saved)
    return {}


def write(page: str, params: Mapping[str, str | list[str]]) -> None:
    """Make `params` the page's view: the URL and the saved state."""
    normal = {k: [v] if isinstance(v, str) else list(v) for k, v in params.items()}
    st.session_state.setdefault(_STORE, {})[page] = normal
    if {k: st.query_params.get_all(k) for k in st.query_params.keys()} != normal:
        st.query_params.from_dict(normal)


def init_widgets(marker: str, values: Mapping[str, Any]) -> None:
    """Set widget state from the view before the widgets are drawn, when the view changed (a new URL) or
    the widgets were forgotten (Streamlit drops widget state of pages not shown)."""
    if st.session_state.get(marker) != dict(values) or any(k not in st.session_state for k in values):
        for k, v in values.items():
            st.session_state[k] = v
        st.session_state[marker] = dict(values)
