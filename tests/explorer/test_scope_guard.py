"""The scope guard in explorer/data.py: a query naming a source outside the user's scope is refused before
it reaches the library, whatever page built it (AppTest over a script calling explorer.data directly)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.explorer.conftest import texts


def _script() -> None:  # runs inside the AppTest: imports are its own
    from datetime import UTC, datetime, timedelta

    import streamlit as st

    from audit_query import AuditLogQuery
    from explorer import data
    from explorer.auth import User

    st.session_state["user"] = User("carol", frozenset({"shop.orders"}))
    today = datetime.now(UTC).date()
    for name, sources in (("own", ("shop.orders",)), ("other", ("shop.payments",)), ("mixed", None)):
        q = AuditLogQuery(today - timedelta(days=6), today, sources or ("shop.orders", "shop.payments"))
        for call, read in (
            ("page", lambda q=q: len(data.page(q).rows)),
            ("count", lambda q=q: int(data.count(q))),
            ("counts", lambda q=q: sum(r.count for r in data.counts(q, "source"))),
        ):
            try:
                st.text(f"{name} {call}: {read()}")
            except Exception as exc:
                st.text(f"{name} {call}: refused {type(exc).__name__} {exc}")


def test_reads_outside_the_users_scope_are_refused_and_name_the_source(app, lib):
    app()  # the environment over the demo data
    at = AppTest.from_function(_script, default_timeout=60).run()
    assert not at.exception
    shown = {t.split(": ", 1)[0]: t.split(": ", 1)[1] for t in texts(at.text)}
    own = lib.count(lib_query(lib, ("shop.orders",)))
    assert own > 0 and shown["own count"] == str(own) and shown["own page"] != "0"
    assert int(shown["own counts"]) == own
    for name in ("other", "mixed"):
        for call in ("page", "count", "counts"):
            assert shown[f"{name} {call}"].startswith("refused QueryValidationError"), (name, call)
            assert "you may not read shop.payments" in shown[f"{name} {call}"]
            assert "(rule: scope)" in shown[f"{name} {call}"]


def lib_query(lib, sources):
    from datetime import UTC, datetime, timedelta

    from audit_query import AuditLogQuery

    today = datetime.now(UTC).date()
    return AuditLogQuery(today - timedelta(days=6), today, sources)
