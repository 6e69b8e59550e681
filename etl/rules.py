"""The acceptance rules both ETLs share (etl/SEMANTICS.md): quarantine reasons, the event-time format and
window, the source rule. Plain Python with no DuckDB or Spark import, so the Glue job ships it too.

>>> parse_event_time("2026-11-27T05:00:00.123456+02:00")
datetime.datetime(2026, 11, 27, 3, 0, 0, 123000)
>>> parse_event_time("2026-11-27T05:00:00") is None  # no zone: not an instant
True
>>> parse_event_time("0999-01-01T00:00:00Z") is None  # before MIN_EVENT_TIME: a broken producer clock
True
>>> valid_source("shop.orders"), valid_source("Shop.Orders"), valid_source("a/b")
(True, False, False)
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from etl.schema import SOURCE_PATTERN

REASONS: tuple[str, ...] = (
    "invalid_json",
    "not_an_object",
    "no_entities",
    "entity_without_id",
    "invalid_time",
    "invalid_source",
)

# ISO-8601 as both engines accept it: date, 'T', time, optional fraction, 'Z' or +-HH:MM.
TIME_PATTERN = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|([+-])([0-9]{2}):([0-9]{2}))$"
)
MIN_EVENT_TIME = datetime(1970, 1, 1)
"""Earlier times are quarantined as invalid_time: no real audit event has one, and older dates meet engine
edge cases (Spark refuses pre-1582 Parquet timestamps by default; years below 1000 broke formatting)."""
MAX_EVENT_TIME = datetime(9999, 12, 31, 23, 59, 59, 999000)
"""The last instant a datetime (and so the table) can hold; a later one (a year-9999 time with a negative
offset) is invalid_time."""

_TIME_RE = re.compile(TIME_PATTERN)
_SOURCE_RE = re.compile(SOURCE_PATTERN)


def parse_event_time(text: str) -> datetime | None:
    """`YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM)` -> naive UTC datetime truncated to ms, or None when the text
    is not such a time or the instant lies before MIN_EVENT_TIME or after year 9999."""
    m = _TIME_RE.fullmatch(text)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    try:
        ts = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
        if z != "Z":
            if int(oh) > 23 or int(om) > 59:
                return None
            offset = timedelta(hours=int(oh), minutes=int(om))
            ts = ts - offset if sign == "+" else ts + offset
        ts += timedelta(milliseconds=int((frac or "0").ljust(3, "0")[:3]))
    except (ValueError, OverflowError):
        return None
    return ts if ts >= MIN_EVENT_TIME else None


def valid_source(value: object) -> bool:
    """Whether `value` is a source name the table can hold (etl.schema.SOURCE_PATTERN)."""
    return isinstance(value, str) and _SOURCE_RE.fullmatch(value) is not None


def format_event_time(ts: datetime) -> str:
    """A parsed event time as ISO-8601 UTC with milliseconds and 'Z' (four-digit year, unlike strftime).

    >>> format_event_time(datetime(2026, 11, 27, 3, 0, 0, 123000))
    '2026-11-27T03:00:00.123Z'
    """
    return ts.isoformat(timespec="milliseconds") + "Z"
