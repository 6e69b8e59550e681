"""Keep a deep link across the OIDC round trip.

Streamlit's sign-in callback always lands on the app's root, so a shared link such as /entity?eid=100234
opened before signing in would lose its view. The sign-in page stores the address the browser asked for in
the tab's sessionStorage (it survives the trip to the identity provider and back, and never leaves the
browser); the first run after sign-in sends the tab back to it. Only same-origin paths are followed.
"""

from __future__ import annotations

import streamlit as st

KEY = "auditlog_return_to"
_DONE = "_return_to_checked"

_REMEMBER = f"""<script>
(() => {{
  const here = window.location.pathname + window.location.search;
  if (here !== "/" && here.startsWith("/") && !here.startsWith("//")) {{
    window.sessionStorage.setItem("{KEY}", here);
  }}
}})();
</script>"""

_RESTORE = f"""<script>
(() => {{
  const target = window.sessionStorage.getItem("{KEY}");
  window.sessionStorage.removeItem("{KEY}");
  const here = window.location.pathname + window.location.search;
  if (target && target.startsWith("/") && !target.startsWith("//") && target !== here) {{
    window.location.replace(target);
  }}
}})();
</script>"""

def _script(body: str) -> None:
    st.html(body, unsafe_allow_javascript=True, width="content")


def remember_return_to() -> None:
    """On the sign-in page: remember the address asked for (nothing to remember on the root)."""
    _script(_REMEMBER)


def restore_return_to() -> None:
    """Once per browser session after sign-in: go back to the remembered address, if any."""
    if st.session_state.get(_DONE):
        return
    st.session_state[_DONE] = True
    _script(_RESTORE)

