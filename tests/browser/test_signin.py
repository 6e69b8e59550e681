"""OIDC sign-in end to end: a real OIDC provider (oidc-provider-mock) on loopback, a real `streamlit run`
configured with [auth], and headless Chromium through the whole redirect flow."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from oidc_provider_mock import User, run_server_in_thread

from tests.browser.conftest import free_port, running_explorer, screenshot, url, wait_idle
from tests.explorer.signin import write_mapping, write_masking

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

USERS = [
    User(sub="alice", claims={"email": "alice@example.com", "groups": ["audit-all"]}),
    User(sub="bob", claims={"email": "bob@example.com", "groups": ["support-orders"]}),
    User(sub="carol", claims={"email": "carol@example.com", "groups": ["support-all"]}),
]


def write_secrets(folder: Path, port: int, provider: str) -> Path:
    """The explorer's .streamlit/secrets.toml [auth] for the provider at `provider` and the app on `port`."""
    secrets = folder / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{"browser-test-cookie-secret-" * 2}"\n'
        'client_id = "auditlog-explorer"\n'
        'client_secret = "browser-test-client-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    return secrets


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """An OIDC provider on loopback with two predefined users (one-click sign-in on its authorize page)."""
    with run_server_in_thread(user_claims=USERS) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def signed_server(provider, demo_data, tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("oidc")
    port = free_port()
    secrets = write_secrets(folder, port, provider)
    with running_explorer(
        demo_data[0],
        folder,
        port=port,
        args=("--secrets.files", str(secrets)),
        AUDITLOG_AUTH_MAPPING=str(write_mapping(folder)),
        AUDITLOG_MASKING_RULES=str(write_masking(folder)),
    ) as base:
        yield base


def sign_in_as(pg, sub: str) -> None:
    """Click Sign in, pick the user on the provider's page, and wait until the explorer shows them."""
    pg.get_by_role("button", name="Sign in").click()
    pg.wait_for_url(re.compile(r"/oauth2/authorize"))
    pg.get_by_role("button", name=sub, exact=True).click()
    pg.locator('[data-testid="stSidebar"]').get_by_text(re.compile("^Signed in as ")).wait_for()
    wait_idle(pg)


def sidebar(pg) -> str:
    return pg.locator('[data-testid="stSidebar"]').inner_text()


def test_a_deep_link_opened_before_sign_in_lands_on_the_same_view_after_it(page, signed_server, demo_data):
    oid = demo_data[1].sample_order_ids[0]
    page.goto(f"{signed_server}/entity?eid={quote(oid)}")
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_text(f"Order {oid}").count() == 0
    sign_in_as(page, "bob")
    page.get_by_role("heading", name=f"Order {oid}").wait_for()
    assert "/entity?eid=" in url(page)
    assert "Signed in as bob@example.com · scope: shop.orders · roles: none" in sidebar(page)
    # bob's scope holds on this page too: the order's own source only, no payments or shipments
    assert page.get_by_text(" · shop.payments").count() == 0
    screenshot(page, "signin-deep-link")


def test_groups_decide_what_each_user_sees_and_sign_out_ends_the_session(page, signed_server):
    page.goto(f"{signed_server}/pipeline")
    sign_in_as(page, "alice")
    assert "Signed in as alice@example.com · scope: all sources · roles: operator, pii" in sidebar(page)
    page.get_by_text("Quarantine", exact=True).wait_for()
    assert page.get_by_text(re.compile("only users with the operator role")).count() == 0
    page.get_by_role("button", name="Sign out").click()
    # RP-initiated logout: the provider asks to end its session too, then sends the browser back.
    page.wait_for_url(re.compile(r"/oauth2/end_session"))
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:"))
    page.goto(signed_server)
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_text("Signed in as").count() == 0


def test_a_user_limited_to_one_source_sees_only_its_figures_and_no_quarantine(browser, signed_server):
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        pg.goto(f"{signed_server}/pipeline")
        sign_in_as(pg, "bob")
        pg.get_by_text(re.compile("only users with the operator role")).wait_for()
        pg.get_by_text("Last runs for your sources").wait_for()
        assert pg.get_by_text("Quarantine", exact=True).count() == 0
        assert pg.get_by_text("Events up to").count() == 0
        screenshot(pg, "signin-scoped-pipeline")
    finally:
        context.close()


def personal_values(lib, entity_id: str) -> set[str]:
    """Every personal text in one order's history (as the rules define it), read unmasked."""
    found: set[str] = set()

    def walk(value, personal: bool) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, personal or k in ("email", "phone", "address", "shipping_address"))
        elif isinstance(value, list):
            for v in value:
                walk(v, personal)
        elif personal and isinstance(value, str) and len(value) >= 6:
            found.add(value)

    for r in lib.history(entity_id):
        for text in (r.Before, r.After):
            if text:
                walk(json.loads(text), False)
        if r.ActorType == "User" and r.ActorName:
            found.add(r.ActorName)
    return found


def frames_of(pg) -> list[bytes]:
    """Every websocket frame the page receives from now on (Streamlit's protobuf deltas)."""
    frames: list[bytes] = []

    def on_socket(ws) -> None:
        ws.on("framereceived", lambda f: frames.append(f if isinstance(f, bytes) else f.encode("utf-8")))

    pg.on("websocket", on_socket)
    return frames


def leaked(secrets: set[str], pg, frames: list[bytes]) -> set[str]:
    html = pg.content()
    blob = b"".join(frames)
    return {s for s in secrets if s in html or s.encode("utf-8") in blob}


@pytest.mark.parametrize(("sub", "sees_pii"), [("alice", True), ("carol", False)])
def test_without_the_pii_role_no_personal_value_reaches_the_browser(
    browser, signed_server, demo_data, lib, sub, sees_pii
):
    oid = demo_data[1].sample_order_ids[0]
    secrets = personal_values(lib, oid)
    assert secrets, "the sample order should carry addresses or e-mails"
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    frames = frames_of(pg)
    try:
        pg.goto(f"{signed_server}/entity?eid={quote(oid)}")
        sign_in_as(pg, sub)
        pg.get_by_role("heading", name=f"Order {oid}").wait_for()
        wait_idle(pg)
        if sees_pii:
            assert leaked(secrets, pg, frames), "a pii user should see the personal values"
        else:
            assert not leaked(secrets, pg, frames)
            # the masked values did reach the page (the state section and the change list), only masked
            assert b"(masked)" in b"".join(frames) or "(masked)" in pg.content()
            screenshot(pg, "signin-masked-entity")
    finally:
        context.close()


def test_an_expired_id_token_ends_the_session_in_a_real_browser(page, demo_data, tmp_path):
    """The provider issues ID tokens valid for 8 s; the next page view after that asks to sign in again."""
    from datetime import timedelta

    port = free_port()
    with run_server_in_thread(user_claims=USERS, access_token_max_age=timedelta(seconds=8)) as idp:
        secrets = write_secrets(tmp_path, port, f"http://localhost:{idp.server_port}")
        with running_explorer(
            demo_data[0],
            tmp_path,
            port=port,
            args=("--secrets.files", str(secrets)),
            AUDITLOG_AUTH_MAPPING=str(write_mapping(tmp_path)),
        ) as base:
            page.goto(f"{base}/pipeline")
            sign_in_as(page, "alice")
            page.wait_for_timeout(9_000)
            page.goto(f"{base}/pipeline")
            page.get_by_text("Your sign-in has expired").wait_for()
            assert page.get_by_text("Signed in as").count() == 0
            assert page.get_by_text("Last runs").count() == 0
            sign_in_as(page, "alice")  # signing in again brings the same page back
            page.get_by_text("Last runs", exact=True).wait_for()
            assert "/pipeline" in url(page)
