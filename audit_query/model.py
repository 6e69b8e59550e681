"""The query model: what a caller may ask for (`AuditLogQuery`), what comes back (`AuditRecord`, `Page`,
`CountRow`), and the validation rules, each error naming the field and the rule it broke.

Users never supply SQL; they fill these fields. Enums are enums (their string values are accepted too),
strings are length-capped and control characters rejected, sources match a strict pattern.

>>> from datetime import date
>>> q = AuditLogQuery(date(2026, 11, 20), date(2026, 11, 26), sources=["shop.orders"], actions=["Update"])
>>> q.sources, q.actions
(('shop.orders',), (<Action.UPDATE: 'Update'>,))
>>> q.validate() is q
True
>>> AuditLogQuery(date(2026, 11, 1), date(2026, 11, 30), sources=("shop",)).validate()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
audit_query.errors.QueryValidationError: date_to: the range spans 30 days; ... (rule: max_range)
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypeVar

from etl import rules, schema

from . import filters as _filters
from .errors import QueryValidationError
from .filters import Action as Action
from .filters import ActorType as ActorType
from .settings import QuerySettings

SOURCE_PATTERN = re.compile(schema.SOURCE_PATTERN.removesuffix("$") + r"\Z")
Direction = Literal["next", "prev"]
Order = Literal["newest", "oldest"]
#: The orders a view can be read in (`--order`, the Search form): by (Timestamp, Id), either way.
ORDERS: tuple[Order, ...] = ("newest", "oldest")


def check_text(value: object, field_name: str, max_length: int) -> str:
    """Return `value` when it is an acceptable text filter, else raise QueryValidationError naming the rule.

    >>> check_text("o'brien", "actor_name", 256)
    "o'brien"
    >>> check_text("a\\x00b", "actor_name", 256)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    audit_query.errors.QueryValidationError: actor_name: control character U+0000 ...
    """
    if not isinstance(value, str):
        raise QueryValidationError(field_name, "type", f"expected text, got {type(value).__name__}")
    if value == "":
        raise QueryValidationError(field_name, "not_empty", "empty text; leave the filter unset (None)")
    if len(value) > max_length:
        raise QueryValidationError(
            field_name, "max_length", f"{len(value)} characters; at most {max_length} allowed"
        )
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise QueryValidationError(
                field_name,
                "control_characters",
                f"control character U+{ord(ch):04X} at position {i} is not allowed; remove it",
            )
    return value


def _as_tuple(value: object, field_name: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(value)
    raise QueryValidationError(field_name, "type", f"expected a list of values, got {type(value).__name__}")


def _as_enum(values: tuple[Any, ...], enum: type[StrEnum], field_name: str) -> tuple[Any, ...]:
    out = []
    for v in values:
        try:
            out.append(enum(v))
        except ValueError:
            allowed = ", ".join(m.value for m in enum)
            raise QueryValidationError(field_name, "enum", f"{v!r} is not one of: {allowed}") from None
    return tuple(dict.fromkeys(out))


def _as_date(value: object, field_name: str) -> date:
    if isinstance(value, datetime):
        raise QueryValidationError(field_name, "type", "expected a date (YYYY-MM-DD), got a datetime")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise QueryValidationError(field_name, "type", f"expected a date (YYYY-MM-DD), got {value!r}")


#: Relative ranges ("the last ..."), by the name `--last` and the explorer's presets use.
RELATIVE_RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


def parse_when(value: object, field_name: str) -> date | datetime:
    """A date ('YYYY-MM-DD') or a UTC date-time to the second ('YYYY-MM-DDTHH:MM[:SS][Z]', a space for
    the T also works; an offset is converted to UTC) typed by a person; QueryValidationError otherwise.

    >>> parse_when("2026-11-26", "date_from"), parse_when("2026-11-26 14:00", "date_from")
    (datetime.date(2026, 11, 26), datetime.datetime(2026, 11, 26, 14, 0, tzinfo=datetime.timezone.utc))
    """
    if isinstance(value, datetime):
        return _utc_second(value)
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else _utc_second(
                datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            pass
    raise QueryValidationError(
        field_name,
        "type",
        f"expected a date (YYYY-MM-DD) or a UTC date-time (YYYY-MM-DDTHH:MM:SS), got {value!r}",
    )


def _utc_second(value: datetime) -> datetime:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=0)


def relative_range(name: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The UTC window (start, end to the second) of the relative range `name`, ending at `now`.

    >>> relative_range("1h", datetime(2026, 11, 26, 15, 0, 30, tzinfo=UTC))[0].isoformat()
    '2026-11-26T14:00:30+00:00'
    """
    if name not in RELATIVE_RANGES:
        raise QueryValidationError("last", "enum", f"{name!r} is not one of: {', '.join(RELATIVE_RANGES)}")
    end = _utc_second(now or datetime.now(UTC))
    return end - RELATIVE_RANGES[name], end


@dataclass(frozen=True)
class AuditLogQuery:
    """One filtered, paged view of the audit log. Dates are inclusive UTC event dates.

    Construction normalises types (lists to tuples, strings to enums, ISO strings to dates); `validate()`
    checks every limit against `QuerySettings`. Both raise QueryValidationError naming field and rule.
    `order` says which rows come first: "newest" (the default) or "oldest"; "next" pages follow that order.
    `include_explorer_events` only matters where sources are defaulted (`filters.default_sources`).
    """

    date_from: date
    date_to: date
    sources: tuple[str, ...]
    entity_types: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    actor_name: str | None = None
    actor_types: tuple[ActorType, ...] = ()
    entity_id: str | None = None
    include_children: bool = False
    correlation_id: str | None = None
    channel_codes: tuple[str, ...] = ()
    actor_contains: str | None = None
    entity_name_contains: str | None = None
    changed_fields: tuple[str, ...] = ()
    changed_from: str | None = None
    changed_to: str | None = None
    include_explorer_events: bool = False
    time_from: datetime | None = None
    time_to: datetime | None = None
    order: Order = "newest"
    limit: int = 100
    cursor: str | None = None
    direction: Direction = "next"

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "date_from", _as_date(self.date_from, "date_from"))
        put(self, "date_to", _as_date(self.date_to, "date_to"))
        for name in ("time_from", "time_to"):
            v = getattr(self, name)
            if v is not None:
                when = parse_when(v, name)
                if not isinstance(when, datetime):
                    raise QueryValidationError(name, "type", "expected a date-time (YYYY-MM-DDTHH:MM:SS)")
                put(self, name, when)
        for f in _filters.FILTERS:
            if not f.many:
                continue
            values = _as_tuple(getattr(self, f.name), f.name)
            if f.choices is not None:
                put(self, f.name, _as_enum(values, f.choices, f.name))
            else:
                put(self, f.name, tuple(dict.fromkeys(values)))
        for f in _filters.FILTERS:
            if f.kind == "flag" and not isinstance(getattr(self, f.name), bool):
                raise QueryValidationError(f.name, "type", "expected true or false")
        if self.order not in ORDERS:
            raise QueryValidationError("order", "enum", f"{self.order!r} is not one of: {', '.join(ORDERS)}")
        if self.direction not in ("next", "prev"):
            raise QueryValidationError("direction", "enum", f"{self.direction!r} is not one of: next, prev")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise QueryValidationError("limit", "type", f"expected a whole number, got {self.limit!r}")

    def validate(self, settings: QuerySettings | None = None) -> AuditLogQuery:
        """Check every rule; return self so calls chain. Raises QueryValidationError (field + rule)."""
        s = settings or QuerySettings()
        if self.date_to < self.date_from:
            raise QueryValidationError(
                "date_to", "order", f"{self.date_to} is before date_from {self.date_from}; swap them"
            )
        if self.time_from is not None and not self.date_from <= self.time_from.date() <= self.date_to:
            raise QueryValidationError(
                "time_from", "outside_dates",
                f"{self.time_from} is not within {self.date_from}..{self.date_to}"
            )
        if self.time_to is not None and not self.date_from <= self.time_to.date() <= self.date_to:
            raise QueryValidationError(
                "time_to", "outside_dates", f"{self.time_to} is not within {self.date_from}..{self.date_to}"
            )
        if self.time_from is not None and self.time_to is not None and self.time_to < self.time_from:
            raise QueryValidationError(
                "time_to", "order", f"{self.time_to} is before time_from {self.time_from}; swap them"
            )
        span = (self.date_to - self.date_from).days + 1
        # A lookup of one entity, one correlation id or one exact actor narrows the scan: it may cover the
        # whole history limit (issue 13 item 5); browsing by anything else is capped at max_range_days.
        lookup = self.entity_id is not None or self.correlation_id is not None or self.actor_name is not None
        max_days = s.max_history_days if lookup else s.max_range_days
        if span > max_days:
            what = "a lookup by entity id, correlation id or exact actor" if lookup else "filtered browsing"
            raise QueryValidationError(
                "date_to",
                "max_range",
                f"the range spans {span} days; at most {max_days} days for {what}; narrow the dates"
                + ("" if lookup else " or look up one entity id, correlation id or exact actor name"),
            )
        if not self.sources:
            raise QueryValidationError("sources", "required", "at least one source")
        for f in _filters.FILTERS:
            value = getattr(self, f.name)
            if f.many:
                if len(value) > s.max_filter_values:
                    raise QueryValidationError(
                        f.name, "max_values", f"{len(value)} values; at most {s.max_filter_values} allowed"
                    )
                if f.choices is None:
                    for v in value:
                        check_text(v, f.name, s.max_string_length)
            elif f.kind in ("exact", "contains", "changed") and value is not None:
                check_text(value, f.name, s.max_string_length)
        for name in ("changed_from", "changed_to"):
            if getattr(self, name) is not None and not self.changed_fields:
                raise QueryValidationError(
                    name,
                    "requires_changed_field",
                    f"say which field changed: give {_filters.CHANGED_FIELD_FLAG} F "
                    f"(\"{_filters.by_name('changed_fields').label}\" on the Search form) with "
                    f"{_filters.by_name(name).flag}",
                )
        for src in self.sources:
            if not SOURCE_PATTERN.match(src):
                raise QueryValidationError(
                    "sources",
                    "pattern",
                    f"{src!r} is not a source name (lower-case letters, digits, '.', '_', '-'; "
                    "starting with a letter or digit; at most 128 characters)",
                )
        if self.include_children and self.entity_id is None:
            raise QueryValidationError(
                "include_children", "requires_entity_id", "set entity_id to include children"
            )
        if not 1 <= self.limit <= s.max_limit:
            raise QueryValidationError("limit", "range", f"{self.limit} is outside 1..{s.max_limit}")
        if self.cursor is not None:
            check_text(self.cursor, "cursor", 4096)
        return self

    def filters(self) -> dict[str, Any]:
        """The filters as plain JSON data: everything except limit, cursor and direction (the order is in:
        a cursor is bound to it).

        >>> AuditLogQuery("2026-11-26", "2026-11-26", ("b", "a")).filters()["sources"]
        ['a', 'b']
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("limit", "cursor", "direction"):
                continue
            v = getattr(self, f.name)
            if isinstance(v, date):  # a datetime too: 'YYYY-MM-DDTHH:MM:SS+00:00'
                v = v.isoformat()
            elif isinstance(v, tuple):
                v = sorted(str(x) for x in v)
            out[f.name] = v
        return out

    def fingerprint(self) -> str:
        """A short hash of `filters()`: a cursor is bound to the filters it was issued for. Fields added after
        cursors were first issued count only when set (`_LATER_DEFAULTS`), so older page links still work."""
        bound = {k: v for k, v in self.filters().items() if _LATER_DEFAULTS.get(k, _UNSET) != v}
        canonical = json.dumps(bound, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:32]

    def next_query(self, page: Page) -> AuditLogQuery | None:
        """The query for the page after `page` (older rows, or newer ones in oldest-first order), or None on
        the last page."""
        if page.next_cursor is None:
            return None
        return replace(self, cursor=page.next_cursor, direction="next")

    def prev_query(self, page: Page) -> AuditLogQuery | None:
        """The query for the page before `page` (newer rows, or older in oldest-first order), or None on the
        first page."""
        if page.prev_cursor is None:
            return None
        return replace(self, cursor=page.prev_cursor, direction="prev")

    def first_query(self) -> AuditLogQuery:
        """The same filters and order, back to the first page."""
        return replace(self, cursor=None, direction="next")


_UNSET = object()
#: Query fields added after page cursors were first issued, at their defaults (as `filters()` gives them).
_LATER_DEFAULTS: dict[str, Any] = {
    "changed_fields": [],
    "changed_from": None,
    "changed_to": None,
    "include_explorer_events": False,
    "order": "newest",
}


ChangeEntry = tuple[str, str | None, str | None]
"""One entry of the Changes column: (Field, Before JSON text, After JSON text)."""


def changes_from_engine(value: Any) -> tuple[ChangeEntry, ...] | None:
    """The Changes column as an engine returns it, as hashable tuples: DuckDB gives a list of
    {Field, Before, After}; Athena lower-cases struct fields, and a JSON text (a list of objects or of
    [field, before, after] arrays) is parsed; other text (Athena's plain struct-list form) reads as None,
    which changes_of_row derives again from Before/After."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
        if not isinstance(value, list):
            return None
    out = []
    for c in value:
        if isinstance(c, Mapping):
            lower = {str(k).lower(): v for k, v in c.items()}
            out.append((lower["field"], lower["before"], lower["after"]))
        else:
            out.append((c[0], c[1], c[2]))
    return tuple(out)


def changes_of_row(value: Any, before: str | None, after: str | None) -> tuple[ChangeEntry, ...] | None:
    """A row's Changes as `changes_from_engine` reads them; when the engine gave text it cannot parse
    (Athena's plain form of array<struct>, `[{field=a, before=1, after=2}]`, ambiguous once a value holds
    `, ` or `}`), derived again from the row's Before/After by the ETL's own rule (etl.rules.changes), which
    is what the ETL stored. NULL (a file older than the column) stays None."""
    parsed = changes_from_engine(value)
    if parsed is None and isinstance(value, str):
        return tuple(rules.changes(before, after))
    return parsed


@dataclass(frozen=True)
class AuditRecord:
    """One row of the audit table: one field per schema column (same names), then the partitions.

    `Timestamp` is a timezone-aware UTC datetime (millisecond precision); `dt` is 'YYYY-MM-DD'.
    """

    Id: str
    EventId: str | None
    Timestamp: datetime
    DetailType: str | None
    ActorName: str | None
    ActorType: str | None
    EntityId: str | None
    EntityName: str | None
    EntityType: str | None
    EntityParentId: str | None
    EntityParentName: str | None
    EntityParentType: str | None
    ChannelCode: str | None
    ChannelAccountCode: str | None
    Action: str | None
    Before: str | None
    After: str | None
    CorrelationId: str | None
    Changes: tuple[ChangeEntry, ...] | None = field(default=None, kw_only=True)
    """(Field, Before, After) per changed field (etl.rules.changes); None in files older than the column."""
    dt: str
    source: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AuditRecord:
        """Build a record from an engine row dict keyed by column name; naive timestamps are read as UTC."""
        values: dict[str, Any] = {name: row.get(name) for name in schema.ALL_COLUMN_NAMES}
        ts = values["Timestamp"]
        if isinstance(ts, str):
            ts = datetime.fromisoformat(ts)
        if isinstance(ts, datetime):
            ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        values["Timestamp"] = ts
        if isinstance(values["dt"], date):
            values["dt"] = values["dt"].isoformat()
        values["Changes"] = changes_of_row(values["Changes"], values["Before"], values["After"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict in schema column order (for grids and export)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class QueryStats:
    """What the engine reported about one query, where it reports it (Athena: all; DuckDB: elapsed)."""

    query_id: str | None = None
    state: str | None = None
    bytes_scanned: int | None = None
    elapsed_ms: float | None = None


@dataclass(frozen=True)
class UnreadableFile:
    """A stored file a read had to leave out (truncated, corrupt, unreadable), named relative to the data
    folder, never by a server path: a data file carries its partition's `dt` and `source`; an entity index
    file (`analytics/entity_index/<run>.parquet`) has neither. `error` is the engine's reason.

    >>> UnreadableFile("analytics/auditlog/dt=2026-11-25/source=billing/run-1.parquet", "x",
    ...                "2026-11-25", "billing").label
    'dt=2026-11-25 source=billing'
    >>> UnreadableFile("analytics/entity_index/run-20261127.parquet", "x").label
    'the entity index of run-20261127'
    """

    file: str
    error: str = field(compare=False)
    dt: str | None = None
    source: str | None = None

    @property
    def label(self) -> str:
        """What a user is told could not be read: the partition, or the run whose entity index it is."""
        if self.dt is not None and self.source is not None:
            return f"dt={self.dt} source={self.source}"
        run = self.file.rsplit("/", 1)[-1].removesuffix(".parquet")
        return f"the entity index of {run}"


T = TypeVar("T")


class Rows(list[T]):
    """A plain list of results (records, count buckets) that also says which stored files the read had to
    leave out (`unreadable`, empty when every file in range was read)."""

    def __init__(self, items: Iterable[T] = (), unreadable: Iterable[UnreadableFile] = ()) -> None:
        super().__init__(items)
        self.unreadable: tuple[UnreadableFile, ...] = tuple(unreadable)


class Count(int):
    """A row count that also says which stored files the count had to leave out (`unreadable`)."""

    unreadable: tuple[UnreadableFile, ...]

    def __new__(cls, value: int, unreadable: Iterable[UnreadableFile] = ()) -> Count:
        self = super().__new__(cls, value)
        self.unreadable = tuple(unreadable)
        return self


@dataclass(frozen=True)
class Page:
    """One page of rows in the query's order (newest first unless `order="oldest"`). `next_cursor` leads
    to the rows after the page in that order (older ones, newest first), `prev_cursor` to those before it.

    `has_more` is true when more rows exist in the direction the page was fetched. `unreadable` names the
    stored files the page's query had to leave out (their rows are missing from it).
    """

    rows: list[AuditRecord]
    next_cursor: str | None
    prev_cursor: str | None
    has_more: bool
    stats: QueryStats | None = field(default=None, compare=False)
    unreadable: tuple[UnreadableFile, ...] = field(default=(), compare=False)


GroupBy = Literal["day", "hour", "source", "action", "actor", "actor_type", "entity_type"]

#: counts() group names and the column each one groups by.
GROUP_BY_COLUMNS: dict[str, str] = {
    "day": "dt",
    "hour": "Timestamp",  # grouped by the UTC hour it falls in ("YYYY-MM-DD HH:00"), see sql.build_counts_sql
    "source": "source",
    "action": "Action",
    "actor": "ActorName",
    "actor_type": "ActorType",
    "entity_type": "EntityType",
}


@dataclass(frozen=True)
class CountRow:
    """One bucket of a count: `key` for the first group, `key2` for the optional second one."""

    key: str | None
    count: int
    key2: str | None = None
