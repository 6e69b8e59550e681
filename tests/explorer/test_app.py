"""app.py (AppTest): the sign-in gate and the access scope that restricts every query."""

from __future__ import annotations

from explorer.widgets import escape_md
from tests.explorer.conftest import texts


def sign_in(at, name: str, password: str):
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(password)
    return at.button(key="FormSubmitter:sign_in-Sign in").click().run()


def test_without_a_user_list_everyone_is_the_local_all_sources_user(app):
    at = app().run()
    assert any("Signed in as **local** · scope: all sources" in c for c in texts(at.caption))


def test_with_a_user_list_nothing_shows_before_sign_in_and_wrong_passwords_fail(app, monkeypatch):
    monkeypatch.setenv("AUDITLOG_USERS", "alice:s3cret:*;bob:pw:shop.orders")
    at = app().run()
    assert not at.dataframe and [t.value for t in at.title] == ["Audit log explorer"]
    sign_in(at, "alice", "wrong")
    assert "Name or password is wrong." in texts(at.error) and not at.dataframe
    sign_in(at, "alice", "s3cret")
    assert at.dataframe and not at.error


def test_a_scoped_user_queries_only_their_sources_even_from_a_link(app, monkeypatch):
    monkeypatch.setenv("AUDITLOG_USERS", "bob:pw:shop.orders")
    at = app(src=["shop.orders", "shop.payments"]).run()
    sign_in(at, "bob", "pw")
    assert not at.exception
    assert set(at.dataframe[0].value["Source"]) == {"shop.orders"}
    assert any(escape_md("shop.payments") in w for w in texts(at.warning))
    assert at.multiselect(key="s_sources").options == ["shop.orders"]


def test_a_malformed_user_list_is_a_message(app, monkeypatch):
    monkeypatch.setenv("AUDITLOG_USERS", "just-a-name")
    at = app().run()
    assert not at.exception
    assert any("AUDITLOG_USERS" in e for e in texts(at.error))


def test_a_page_opened_directly_still_asks_for_sign_in_first(app, monkeypatch, demo):
    monkeypatch.setenv("AUDITLOG_USERS", "alice:s3cret:*")
    oid = demo[1].sample_order_ids[0]
    at = app("pages/entity.py", eid=oid).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Audit log explorer"] and not at.header
    sign_in(at, "alice", "s3cret")
    assert [h.value for h in at.header] == [f"Order {oid}"]
