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

import json.decoder
import json.scanner
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from etl.schema import SOURCE_PATTERN


@dataclass(frozen=True)
class Rule:
    """One acceptance rule: the quarantine reason, the message both ETLs write with it, and the JSON paths
    (of the envelope) it reads. A record breaking several rules gets the first one's reason (RULES order)."""

    reason: str
    message: str
    paths: tuple[str, ...]


RULES: tuple[Rule, ...] = (
    Rule("record_too_large", "the line is longer than AUDITLOG_ETL_MAX_RECORD_BYTES; it was not parsed", ()),
    Rule("invalid_json", "text is not valid JSON", ()),
    Rule("not_an_object", "the record is JSON but not an object", ()),
    Rule("no_entities", "detail.entities is missing, not an array, or empty", ("detail", "detail.entities")),
    Rule(
        "entity_without_id",
        "an entities item has no entity.id (or it is null, empty, or not a string/number)",
        ("detail.entities[].entity.id",),
    ),
    Rule(
        "id_control_character",
        "an entity.id or parent.id holds a control character (U+0000-U+001F, U+007F-U+009F): the query "
        "library refuses those, so the row could never be looked up",
        ("detail.entities[].entity.id", "detail.entities[].parent.id"),
    ),
    Rule(
        "invalid_time",
        "time is missing, not ISO-8601 with Z or an offset, or outside 1970-01-01T00:00:00.000Z.."
        "9999-12-31T23:59:59.999Z (UTC)",
        ("time",),
    ),
    Rule(
        "invalid_source",
        "source is missing, not a string, or not a source name (lower-case letters, digits, '.', '_', '-'; "
        "at most 128)",
        ("source",),
    ),
)
"""Every record-level rule, in the order both ETLs check them (record_too_large and invalid_json are decided
before a record is parsed; the others on the parsed record)."""

OBJECT_RULES: tuple[Rule, ...] = (
    Rule(
        "unreadable_object",
        "the raw object could not be read to its end (not gzip, truncated, no access)",
        (),
    ),
    Rule("object_too_large", "the raw object decompresses to more than AUDITLOG_ETL_MAX_OBJECT_BYTES", ()),
)
"""Rules for a whole raw object; it gets one quarantine entry (no line, no raw text) and the day goes on."""

REASONS: tuple[str, ...] = tuple(r.reason for r in RULES)
PARSED_REASONS: tuple[str, ...] = REASONS[2:]
"""The reasons decided on a parsed record, in checking order (what each engine's rule code implements)."""
OBJECT_REASONS: tuple[str, ...] = tuple(r.reason for r in OBJECT_RULES)
MESSAGES: dict[str, str] = {r.reason: r.message for r in (*RULES, *OBJECT_RULES)}

ID_CONTROL_PATTERN = r"[\x00-\x1f\x7f-\x9f]"
"""A control character (Unicode category Cc) in an id: Python `re` and DuckDB's RE2 read it alike."""
_ID_CONTROL_RE = re.compile(ID_CONTROL_PATTERN)


def has_control_character(text: str | None) -> bool:
    """Whether an id's stored text holds a control character (rule id_control_character).

    >>> has_control_character("o-1"), has_control_character("o\\n1"), has_control_character(None)
    (False, True, False)
    """
    return text is not None and _ID_CONTROL_RE.search(text) is not None


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
offset) is invalid_time. The storable range is [MIN_EVENT_TIME, MAX_EVENT_TIME] in UTC: both ETLs and the
event contract's validator take it from here."""

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
    return ts if MIN_EVENT_TIME <= ts <= MAX_EVENT_TIME else None


def time_out_of_range(text: str) -> bool:
    """Whether `text` is a well-formed event time whose UTC instant lies outside the storable range (the
    contract's `range` rule; a malformed time is the format rule's business).

    >>> time_out_of_range("2262-04-12T00:00:00Z"), time_out_of_range("1969-12-31T23:59:59Z")
    (False, True)
    >>> time_out_of_range("9999-12-31T23:59:59.999-01:00"), time_out_of_range("yesterday")
    (True, False)
    """
    m = _TIME_RE.fullmatch(text)
    if not m:
        return False
    y, mo, d, h, mi, s, _frac, z, _sign, oh, om = m.groups()
    if int(y) == 0:
        return True  # year 0000 exists in no calendar Python or the engines use: before the range
    try:
        datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
    except ValueError:
        return False  # not a calendar date-time: the format rule's business
    if z != "Z" and (int(oh) > 23 or int(om) > 59):
        return False
    return parse_event_time(text) is None


def valid_source(value: object) -> bool:
    """Whether `value` is a source name the table can hold (etl.schema.SOURCE_PATTERN)."""
    return isinstance(value, str) and _SOURCE_RE.fullmatch(value) is not None


def format_event_time(ts: datetime) -> str:
    """A parsed event time as ISO-8601 UTC with milliseconds and 'Z' (four-digit year, unlike strftime).

    >>> format_event_time(datetime(2026, 11, 27, 3, 0, 0, 123000))
    '2026-11-27T03:00:00.123Z'
    """
    return ts.isoformat(timespec="milliseconds") + "Z"


# --- Field changes (the Changes column) ---------------------------------------------------------------------


class _ScanContext:
    """What json's C scanner reads from a decoder: strict strings, numbers and constants kept as text."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    memo: dict[str, object] = {}
    parse_float = parse_int = parse_constant = staticmethod(str)


_json_scanner: Any = json.scanner
_json_decoder: Any = json.decoder
_scan_value = _json_scanner.make_scanner(_ScanContext())
_scan_string = _json_decoder.scanstring
_WS = " \t\r\n"
_WS_OUTSIDE_STRINGS = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\r\n]+', re.DOTALL)

Change = tuple[str, str | None, str | None]
"""One entry of the Changes column: (Field, Before value, After value), the values as JSON text or None."""


def _minified(text: str) -> str:
    """JSON text without insignificant whitespace (the stored Before/After are minified already)."""
    if not any(c in text for c in _WS):
        return text
    return _WS_OUTSIDE_STRINGS.sub(lambda m: m.group(1) or "", text)


def _members(text: str) -> dict[str, str] | None:
    """The top-level members of a minified JSON object text, {key: value text}, the first of duplicate keys
    winning (SEMANTICS edge case 3); None when the text is not an object."""
    if not text.startswith("{"):
        return None
    out: dict[str, str] = {}
    i = 1
    if text[i] == "}":
        return out
    while True:
        key, i = _scan_string(text, i + 1, True)  # text[i] is the key's opening quote
        i += 1  # the ':'
        _, end = _scan_value(text, i)
        out.setdefault(key, text[i:end])
        if text[end] == "}":
            return out
        i = end + 1  # the ',' ; text[i] is the next key's quote


def changes(before: str | None, after: str | None) -> list[Change]:
    """The field changes between a row's stored Before and After texts (None = no object): the Changes column.

    For each top-level key of before ∪ after whose value text differs: (key, before value, after value),
    each value the exact JSON text of that member inside the stored (minified) Before/After, None when the
    key is absent on that side; a JSON null is the text "null". When both sides hold an object under a key,
    its sub-keys are compared the same way, one level deep, giving "key.sub" entries instead of "key"
    (deeper values are compared whole, as text, so a reordering at depth 2 or more counts as a change; at
    depth 1 it does not). A Create (no before) lists every key of after, a Delete every key of before. When
    either side is present but not an object (an array, a string, a number), the two texts are compared
    whole under field "". Duplicate keys: the first one wins. Entries are sorted by (Field, Before, After),
    strings by code point and None after any text, as DuckDB sorts them (Field alone ties only when a
    top-level key spelled "a.b" meets the nested "a"."b").

    >>> changes('{"status":"paid","n":5}', '{"status":"packed","n":5.0}')
    [('n', '5', '5.0'), ('status', '"paid"', '"packed"')]
    >>> changes(None, '{"a":1,"b":null}')  # a Create lists every key; null is the text "null"
    [('a', None, '1'), ('b', None, 'null')]
    >>> changes('{"a":1,"b":2}', '{"b":2}')  # a removed key: After None
    [('a', '1', None)]
    >>> changes('{"addr":{"city":"Köln","zip":"1"},"x":[1,2]}',
    ...         '{"addr":{"zip":"1","city":"Bonn"},"x":[2,1]}')
    [('addr.city', '"Köln"', '"Bonn"'), ('x', '[1,2]', '[2,1]')]
    >>> changes('{"a":{"b":{"c":1,"d":2}}}', '{"a":{"b":{"d":2,"c":1}}}')  # depth 2 reordered: a change
    [('a.b', '{"c":1,"d":2}', '{"d":2,"c":1}')]
    >>> changes('{"a":{"x":1}}', '{"a":"x"}'), changes('{"s":"\\\\u00e9"}', '{"s":"é"}')
    ([('a', '{"x":1}', '"x"')], [('s', '"\\\\u00e9"', '"é"')])
    >>> changes('"draft"', '{"a":1}'), changes('[1]', '[1]'), changes(None, None)
    ([('', '"draft"', '{"a":1}')], [], [])
    >>> changes('{"a":1,"a":2}', '{"a":1}')  # duplicate keys: the first wins
    []
    """
    if before is None and after is None:
        return []
    b = None if before is None else _minified(before)
    a = None if after is None else _minified(after)
    mb = None if b is None else _members(b)
    ma = None if a is None else _members(a)
    if (b is not None and mb is None) or (a is not None and ma is None):
        return [] if b == a else [("", b, a)]
    out: list[Change] = []
    _diff(mb or {}, ma or {}, "", out, nested=True)
    out.sort(key=_change_order)
    return out


def _change_order(c: Change) -> tuple[str, bool, str, bool, str]:
    """(Field, Before, After) with None after any text: DuckDB's list_sort order of the struct."""
    return (c[0], c[1] is None, c[1] or "", c[2] is None, c[2] or "")


def _diff(mb: dict[str, str], ma: dict[str, str], prefix: str, out: list[Change], nested: bool) -> None:
    for key in (*mb, *(k for k in ma if k not in mb)):
        bv, av = mb.get(key), ma.get(key)
        if bv == av:
            continue
        if nested and bv is not None and av is not None and bv[0] == "{" and av[0] == "{":
            _diff(_members(bv) or {}, _members(av) or {}, prefix + key + ".", out, nested=False)
        else:
            out.append((prefix + key, bv, av))
