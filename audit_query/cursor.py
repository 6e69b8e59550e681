"""Opaque page cursors: the keyset position (last Timestamp in ms, last Id), the direction and a fingerprint
of the filters, as base64url JSON signed with HMAC-SHA256.

A cursor is bound to the filters it was issued for: decoding it with other filters, or after any change to
its bytes, raises CursorError. The signature stops callers from forging positions; the position itself is
not secret (it is a row the caller has already seen).

>>> from datetime import date
>>> from audit_query.model import AuditLogQuery
>>> q = AuditLogQuery(date(2026, 11, 26), date(2026, 11, 26), ("shop",))
>>> token = encode_cursor(Keyset(1796000000123, "evt-1:0", "next"), q, b"secret")
>>> decode_cursor(token, q, b"secret")
Keyset(timestamp_ms=1796000000123, id='evt-1:0', direction='next')
>>> decode_cursor(token, q, b"other secret")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
audit_query.errors.CursorError: cursor: the cursor's signature does not match; ... (rule: signature)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import CursorError
from .model import AuditLogQuery, AuditRecord, Direction

_VERSION = 1
_EPOCH = datetime(1970, 1, 1)
_MAX_CURSOR_CHARS = 4096
_RESTART = "start again from the first page"


@dataclass(frozen=True)
class Keyset:
    """A position in the (Timestamp DESC, Id DESC) order and which way to read from it."""

    timestamp_ms: int
    id: str
    direction: Direction

    @classmethod
    def of(cls, record: AuditRecord, direction: Direction) -> Keyset:
        """The position of `record` (its Timestamp in epoch milliseconds and its Id)."""
        return cls(to_millis(record.Timestamp), record.Id, direction)

    def timestamp(self) -> datetime:
        """The position's Timestamp as a naive UTC datetime (what a TIMESTAMP literal states)."""
        return _EPOCH + timedelta(milliseconds=self.timestamp_ms)


def to_millis(value: datetime) -> int:
    """Epoch milliseconds of a datetime (naive values are UTC).

    >>> to_millis(datetime(1970, 1, 1, 0, 0, 1, 2000))
    1002
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes, secret: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def encode_cursor(position: Keyset, query: AuditLogQuery, secret: bytes) -> str:
    """An opaque, signed cursor for `position` under `query`'s filters (URL-safe text)."""
    body = {
        "v": _VERSION,
        "ts": position.timestamp_ms,
        "id": position.id,
        "dir": position.direction,
        "fp": query.fingerprint(),
    }
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode("ascii")
    return _b64(payload) + "." + _b64(_sign(payload, secret))


def decode_cursor(token: str, query: AuditLogQuery, secret: bytes) -> Keyset:
    """Check signature, shape and filter binding of `token`; return its position or raise CursorError."""
    if not isinstance(token, str) or not token or len(token) > _MAX_CURSOR_CHARS:
        raise CursorError("the cursor is empty or too long; " + _RESTART, "shape")
    parts = token.split(".")
    if len(parts) != 2:
        raise CursorError("the cursor is not one this library issued; " + _RESTART, "shape")
    try:
        payload, signature = _unb64(parts[0]), _unb64(parts[1])
    except (binascii.Error, ValueError):
        raise CursorError("the cursor is not valid base64url; " + _RESTART, "shape") from None
    if not hmac.compare_digest(signature, _sign(payload, secret)):
        raise CursorError(
            "the cursor's signature does not match; it was changed or issued by another server; " + _RESTART,
            "signature",
        )
    try:
        body: Any = json.loads(payload)
    except ValueError:
        raise CursorError("the cursor's content is not JSON; " + _RESTART, "shape") from None
    if (
        not isinstance(body, dict)
        or body.get("v") != _VERSION
        or not isinstance(body.get("ts"), int)
        or isinstance(body.get("ts"), bool)
        or not isinstance(body.get("id"), str)
        or body.get("dir") not in ("next", "prev")
        or not isinstance(body.get("fp"), str)
    ):
        raise CursorError("the cursor's content has the wrong shape; " + _RESTART, "shape")
    if not hmac.compare_digest(body["fp"], query.fingerprint()):
        raise CursorError("the cursor was issued for different filters; " + _RESTART, "filters")
    return Keyset(body["ts"], body["id"], body["dir"])
