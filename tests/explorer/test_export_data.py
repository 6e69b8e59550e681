"""The explorer's export goes through explorer/data.py like every other read (issue 16 item 6): the user's
scope is checked and the file is cached per view, format and scope."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest

from tests.explorer.conftest import texts


def export_script(sources: list[str], scopes: list[str] | None) -> None:
    """A Streamlit script: sign in a user with `scopes`, export the week's view of `sources` twice."""
    from datetime import UTC, datetime, timedelta

    import streamlit as st

    import audit_query.export
    from audit_query import AuditLogQuery
    from explorer import data
    from explorer.auth import User

    calls = st.session_state.setdefault("library_exports", [])
    real = audit_query.export.export

    def counting(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    data.export = counting  # count the library calls behind the cache
    st.session_state["user"] = User("tester", None if scopes is None else frozenset(scopes))
    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=6), today, tuple(sources), actor_name="alice@example.com")
    try:
        first = data.export_file(q, "csv")
        second = data.export_file(q, "csv")
    except Exception as exc:
        data.show_error(exc)
    else:
        st.session_state["files"] = [first, second]
    finally:
        data.export = real


def run(demo, monkeypatch, sources: list[str], scopes: list[str] | None) -> AppTest:
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(demo[0]))
    from explorer import data

    data._files.clear()
    at = AppTest.from_function(export_script, args=(sources, scopes), default_timeout=60)
    return at.run()


def test_an_export_outside_the_users_scope_is_refused(demo, monkeypatch):
    at = run(demo, monkeypatch, ["shop.orders", "shop.payments"], ["shop.orders"])
    assert not at.exception
    assert any("Sources" in e and "shop" in e for e in texts(at.error))
    assert "files" not in at.session_state and at.session_state["library_exports"] == []


def test_an_export_is_every_row_of_the_view_and_a_repeat_is_served_from_the_cache(demo, monkeypatch, lib):
    today = datetime.now(UTC).date()
    from audit_query import AuditLogQuery

    q = AuditLogQuery(today - timedelta(days=6), today, ("shop.orders",), actor_name="alice@example.com")
    expected = [r.Id for page in lib.iter_pages(q) for r in page.rows]
    at = run(demo, monkeypatch, ["shop.orders"], ["shop.orders"])
    assert not at.exception and not at.error
    (blob, rows, pending), again = at.session_state["files"]
    assert again == (blob, rows, pending) and pending == 0
    assert [r["Id"] for r in csv.DictReader(io.StringIO(blob.decode("utf-8")))] == expected
    assert rows == len(expected) > 0
    assert len(at.session_state["library_exports"]) == 1, "the second export came from the cache"
