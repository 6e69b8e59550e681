"""The audit log explorer (Streamlit entry point): settings, the sign-in gate, navigation over the pages.

Run with `streamlit run app.py` (`make run` does it). Configuration comes from the environment:
AUDITLOG_BACKEND (duckdb | athena), AUDITLOG_DATA_DIR, AUDITLOG_USERS (see explorer/auth.py),
AUDITLOG_EXPORT_MAX_ROWS, AUDITLOG_CACHE_TTL_SECONDS, AUDITLOG_RUNS_LOCATION and the query library's
AUDITLOG_* limits (audit_query.settings).
"""

from __future__ import annotations

import streamlit as st

from explorer.auth import LOCAL_USER, authenticate, parse_users
from explorer.config import ExplorerSettings
from explorer.guard import mark_app_run

st.set_page_config(page_title="Audit log explorer", page_icon=":material/manage_search:", layout="wide")


def sign_in(spec: str) -> None:
    """Ask for name and password until they match AUDITLOG_USERS; stops the page run until then."""
    try:
        accounts = parse_users(spec)
    except (ValueError, OSError) as exc:
        st.error(f"The sign-in list (AUDITLOG_USERS) is not usable: {exc}")
        st.stop()
    st.title("Audit log explorer")
    with st.form("sign_in"):
        name = st.text_input("Name", key="signin_name")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        user = authenticate(accounts, name, password)
        if user is None:
            st.error("Name or password is wrong.")
        else:
            st.session_state["user"] = user
            st.rerun()
    st.stop()


pages = [
    st.Page("pages/search.py", title="Search", icon=":material/search:", default=True),
    st.Page("pages/entity.py", title="Entity", icon=":material/history:", url_path="entity"),
    st.Page("pages/correlation.py", title="Correlation", icon=":material/hub:", url_path="correlation"),
    st.Page("pages/activity.py", title="Activity", icon=":material/bar_chart:", url_path="activity"),
    st.Page("pages/pipeline.py", title="Pipeline", icon=":material/conveyor_belt:", url_path="pipeline"),
]
# Registered before the sign-in gate, so a shared link's page is still the one shown after signing in.
# The menu is drawn below with page links: with a pages/ folder beside app.py, Streamlit's built-in menu can
# show its folder-based guess (file names, no icons); .streamlit/config.toml hides it.
current = st.navigation(pages, position="hidden")

try:
    SETTINGS = ExplorerSettings.from_env()
except ValueError as exc:
    st.error(f"The explorer is misconfigured: {exc}")
    st.stop()

if SETTINGS.users is None:
    st.session_state["user"] = LOCAL_USER
elif "user" not in st.session_state or st.session_state["user"] is LOCAL_USER:
    sign_in(SETTINGS.users)

user = st.session_state["user"]
with st.sidebar:
    for p in pages:
        st.page_link(p)
    st.divider()
    scope = "all sources" if user.scopes is None else ", ".join(sorted(user.scopes))
    st.caption(f"Signed in as **{user.name}** · scope: {scope}")
    if SETTINGS.users is not None and st.button("Sign out", key="sign_out"):
        del st.session_state["user"]
        st.rerun()
mark_app_run()
current.run()
