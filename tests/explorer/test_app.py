"""app.py (AppTest): the OIDC sign-in gate, claims -> scopes and roles, and the loopback rule."""

from __future__ import annotations

import time

from tests.explorer.conftest import texts
from tests.explorer.signin import with_sign_in, write_mapping


def sidebar_text(at) -> str:
    return " ".join(str(t.value) for t in at.sidebar.text)


def test_without_sign_in_everyone_is_the_local_all_sources_user(app):
    at = app().run()
    assert not at.exception
    assert "Signed in as local · scope: all sources · roles: operator, pii" in sidebar_text(at)
    assert at.dataframe


def test_with_sign_in_nothing_shows_before_signing_in(app, monkeypatch, tmp_path):
    at = with_sign_in(app(), write_mapping(tmp_path), monkeypatch).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Audit log explorer"] and not at.dataframe
    assert at.button(key="sign_in").label == "Sign in"


def test_groups_claim_gives_scope_and_roles_and_every_query_is_limited(app, monkeypatch, tmp_path):
    at = app(src=["shop.orders", "shop.payments"])
    with_sign_in(at, write_mapping(tmp_path), monkeypatch, email="bob@example.com", groups=["support-orders"])
    at.run()
    assert not at.exception
    assert "Signed in as bob@example.com · scope: shop.orders · roles: none" in sidebar_text(at)
    assert set(at.dataframe[0].value["Source"]) == {"shop.orders"}
    assert at.multiselect(key="s_sources").options == ["shop.orders"]


def test_a_user_in_no_mapped_group_reads_nothing(app, monkeypatch, tmp_path):
    at = with_sign_in(
        app(), write_mapping(tmp_path), monkeypatch, email="eve@example.com", groups=["x"]
    ).run()
    assert not at.exception and not at.dataframe
    assert any("none of your groups may read any source" in e for e in texts(at.error))


def test_an_expired_id_token_ends_the_session(app, monkeypatch, tmp_path):
    at = with_sign_in(
        app(), write_mapping(tmp_path), monkeypatch, email="al@example.com", groups=["audit-all"]
    )
    at.user["exp"] = int(time.time()) - 5
    at.run()
    assert not at.exception and not at.dataframe
    assert any("Your sign-in has expired" in w for w in texts(at.warning))
    assert at.button(key="sign_in").label == "Sign in"


def test_sign_in_without_a_mapping_file_is_a_message(app, monkeypatch, tmp_path):
    at = with_sign_in(
        app(), tmp_path / "missing.json", monkeypatch, email="a@example.com", groups=["g"]
    ).run()
    assert not at.exception and not at.dataframe
    assert any("AUDITLOG_AUTH_MAPPING" in e and "cannot read it" in e for e in texts(at.error))
    monkeypatch.setenv("AUDITLOG_AUTH_MAPPING", "")
    at.run()
    assert any("AUDITLOG_AUTH_MAPPING is not set" in e for e in texts(at.error))


def test_a_malformed_mapping_names_the_problem(app, monkeypatch, tmp_path):
    path = write_mapping(tmp_path, {"groups": {"ops": {"roles": ["root"]}}})
    at = with_sign_in(app(), path, monkeypatch, email="a@example.com", groups=["ops"]).run()
    assert not at.exception and not at.dataframe
    assert any("unknown roles ['root']" in e for e in texts(at.error))


def test_a_page_opened_directly_still_asks_for_sign_in_first(app, monkeypatch, tmp_path, demo):
    oid = demo[1].sample_order_ids[0]
    at = with_sign_in(app("pages/entity.py", eid=oid), write_mapping(tmp_path), monkeypatch).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Audit log explorer"] and not at.header


def test_no_sign_in_on_a_public_address_is_refused_unless_allowed(app, monkeypatch):
    at = app()
    at.run()
    from streamlit import config

    old = config.get_option("server.address")
    try:
        config.set_option("server.address", "0.0.0.0")
        at.run()
        assert not at.dataframe
        assert any("with no sign-in configured" in e for e in texts(at.error))
        monkeypatch.setenv("AUDITLOG_ALLOW_REMOTE_WITHOUT_SIGNIN", "true")
        at.run()
        assert at.dataframe and not at.error
    finally:
        config.set_option("server.address", old)
