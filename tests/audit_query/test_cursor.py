"""Cursors are opaque, signed and bound to their filters: tampered or foreign ones are refused."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from audit_query import AuditLogClient, AuditLogQuery, CursorError, QuerySettings
from audit_query.cursor import Keyset, decode_cursor, encode_cursor

from .conftest import SOURCES

Q = AuditLogQuery("2026-11-24", "2026-11-26", SOURCES, limit=10)


def next_query(client: AuditLogClient) -> AuditLogQuery:
    nxt = Q.next_query(client.query(Q))
    assert nxt is not None
    return nxt


def test_round_trip_and_opacity() -> None:
    token = encode_cursor(Keyset(123, "evt:1", "prev"), Q, b"k")
    assert decode_cursor(token, Q, b"k") == Keyset(123, "evt:1", "prev")
    assert "evt" not in token and all(c.isalnum() or c in "-_." for c in token)


def _rewrite(token: str, **changes: object) -> str:
    payload, sig = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + sig


def test_tampered_cursor_is_rejected(client: AuditLogClient) -> None:
    nxt = next_query(client)
    for bad in (_rewrite(nxt.cursor, id="zzzz"), _rewrite(nxt.cursor, ts=0), nxt.cursor[:-2] + "AA"):
        with pytest.raises(CursorError) as info:
            client.query(replace(nxt, cursor=bad))
        assert info.value.rule == "signature" and "first page" in str(info.value)


@pytest.mark.parametrize("garbage", ["x", "not.base64!", "a.b.c", "e30.e30", "%27%20OR%201=1"])
def test_garbage_cursor_is_rejected(client: AuditLogClient, garbage: str) -> None:
    with pytest.raises(CursorError) as info:
        client.query(replace(Q, cursor=garbage))
    assert info.value.field == "cursor"


def test_cursor_with_other_filters_is_rejected(client: AuditLogClient) -> None:
    nxt = next_query(client)
    for other in (
        replace(nxt, actor_name="alice"),
        replace(nxt, sources=("billing",)),
        replace(nxt, date_from=nxt.date_to),
    ):
        with pytest.raises(CursorError) as info:
            client.query(other)
        assert info.value.rule == "filters"
    # the page size may change between pages
    assert client.query(replace(nxt, limit=3)).rows


def test_cursor_from_another_secret_is_rejected(backend) -> None:
    issuer = AuditLogClient(backend, QuerySettings(cursor_secret=b"one"))
    other = AuditLogClient(backend, QuerySettings(cursor_secret=b"two"))
    nxt = Q.next_query(issuer.query(Q))
    assert issuer.query(nxt).rows
    with pytest.raises(CursorError):
        other.query(nxt)


def test_cursor_direction_must_match(client: AuditLogClient) -> None:
    nxt = next_query(client)
    with pytest.raises(CursorError) as info:
        client.query(replace(nxt, direction="prev"))
    assert info.value.rule == "direction"
