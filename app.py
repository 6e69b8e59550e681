"""The audit log explorer (Streamlit entry point): settings, the sign-in gate, navigation over the pages.

Served by `streamlit run serve.py` (`make run` does it; `streamlit run app.py` works too, without the page
shell of explorer/shell.py). Configuration comes from the environment:
AUDITLOG_BACKEND (duckdb | athena), AUDITLOG_DATA_DIR, AUDITLOG_AUTH_MAPPING (see explorer/auth.py),
AUDITLOG_EXPORT_MAX_ROWS, AUDITLOG_CACHE_TTL_SECONDS, AUDITLOG_RUNS_LOCATION and the query library's
AUDITLOG_* limits (audit_query.settings).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer.auth import LOCAL_USER, AuthSettings, ClaimMapping, User, is_loopback, token_expired
from explorer.config import ExplorerSettings
from explorer.guard import mark_app_run
from explorer.menu import PAGES
from explorer.signin import remember_return_to, restore_return_to

st.set_page_config(page_title="Audit log explorer", page_icon=":material/manage_search:", layout="wide")


def sign_in_configured() -> bool:
    """Whether `.streamlit/secrets.toml` (or the configured secrets files) has an [auth] section."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitAPIException):
        return False


@st.cache_resource(show_spinner=False)
def _mapping(path: str, mtime: float) -> ClaimMapping:
    return ClaimMapping.load(path)


def claim_mapping(auth: AuthSettings) -> ClaimMapping:
    """The claim mapping file, re-read when it changes; a message and a stop when it is missing or broken."""
    if not auth.auth_mapping:
        st.error(
            "Sign-in is configured but AUDITLOG_AUTH_MAPPING is not set: point it at the JSON file that maps "
            "ID-token groups to sources and roles (see README, Sign-in)."
        )
        st.stop()
    path = Path(auth.auth_mapping)
    try:
        return _mapping(str(path), path.stat().st_mtime)
    except OSError as exc:
        st.error(f"AUDITLOG_AUTH_MAPPING={str(path)!r}: cannot read it ({exc.strerror}).")
    except ValueError as exc:
        st.error(str(exc))
    st.stop()


def signed_in_user(auth: AuthSettings) -> User:
    """The OIDC user, or the sign-in page and a stop; an expired ID token ends the session."""
    if not st.user.is_logged_in:
        remember_return_to()
        st.title("Audit log explorer")
        st.write("Sign in with your organisation's account to read the audit log.")
        st.button("Sign in", type="primary", key="sign_in", on_click=st.login)
        st.stop()
    claims = st.user.to_dict()
    if token_expired(claims):
        # The identity cookie outlives the ID token: nothing is shown until the user signs in again.
        remember_return_to()
        st.title("Audit log explorer")
        st.warning("Your sign-in has expired. Sign in again to go on.", icon=":material/timer_off:")
        st.button("Sign in", type="primary", key="sign_in", on_click=st.login)
        st.stop()
    user = claim_mapping(auth).user_for(claims)
    if user.scopes is not None and not user.scopes:
        st.title("Audit log explorer")
        st.error(
            f"You are signed in as {user.name}, but none of your groups may read any source. Ask an "
            "administrator to add you to a group listed in the explorer's claim mapping."
        )
        st.button("Sign out", key="sign_out_denied", on_click=st.logout)
        st.stop()
    restore_return_to()
    return user


pages = [
    st.Page(p.script, title=p.title, icon=p.icon, default=not p.url_path, url_path=p.url_path or None)
    for p in PAGES
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

try:
    AUTH = AuthSettings.from_env()
except ValueError as exc:
    st.error(f"The explorer is misconfigured: {exc}")
    st.stop()

SIGN_IN = sign_in_configured()
if SIGN_IN:
    st.session_state["user"] = signed_in_user(AUTH)
else:
    address = st.get_option("server.address")
    if not is_loopback(address) and not AUTH.allow_remote_without_signin:
        st.error(
            f"The explorer is serving on {address or 'every network interface'} with no sign-in configured, "
            "so anyone who reaches it could read every source. Configure sign-in ([auth] in "
            ".streamlit/secrets.toml), serve on 127.0.0.1 (--server.address 127.0.0.1), or set "
            "AUDITLOG_ALLOW_REMOTE_WITHOUT_SIGNIN=true if that is really intended."
        )
        st.stop()
    st.session_state["user"] = LOCAL_USER

user = st.session_state["user"]
with st.sidebar:
    for p in pages:
        st.page_link(p)
    st.divider()
    scope = "all sources" if user.scopes is None else ", ".join(sorted(user.scopes))
    roles = ", ".join(sorted(user.roles)) or "none"
    st.text(f"Signed in as {user.name} · scope: {scope} · roles: {roles}")
    if SIGN_IN:
        st.button("Sign out", key="sign_out", on_click=st.logout)
mark_app_run()
current.run()
