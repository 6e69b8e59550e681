"""View state <-> URL query parameters, as plain Python (no Streamlit import), so a link shares a view.

Each page keeps its state in a small frozen dataclass with `to_params()` (only non-default values, lists as
repeated keys) and `from_params()` (tolerant: a malformed value falls back to the default and is reported
in `problems`, never an exception). Validation of the values themselves is `audit_query`'s job.

>>> f = SearchFilters.from_params({"range": ["custom"], "from": ["2026-11-20"], "to": ["2026-11-22"],
...                                "act": ["Update", "Delete"], "actor": ["o'brien"]})
>>> f.dates(date(2026, 11, 27)), f.actions, f.actor_name
((datetime.date(2026, 11, 20), datetime.date(2026, 11, 22)), ('Update', 'Delete'), "o'brien")
>>> SearchFilters.from_params(f.to_params()) == f
True
>>> print(*SearchFilters.from_params({"from": "yesterday"}).problems)
from: 'yesterday' is not a date (YYYY-MM-DD) or date-time; using the default
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from audit_query import AuditLogQuery, QueryValidationError, filters
from audit_query.model import ORDERS, Direction, Order, parse_when, relative_range

Params = Mapping[str, Sequence[str] | str]

RANGE_PRESETS: dict[str, str] = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "today": "Today",
    "2d": "Yesterday and today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom dates",
}
#: Presets that are a window of time up to now (to the second) rather than whole days.
TIME_PRESETS = ("15m", "1h", "24h")
DEFAULT_RANGE = "7d"
#: Days after a record's date that an Entity link covers (its later changes, children's included).
ENTITY_LINK_DAYS_AFTER = 30
#: How many changes one page of the Entity page's change list holds.
ENTITY_SHOW_STEP = 50


def today_utc() -> date:
    """Today's UTC date: what preset ranges and default windows are relative to."""
    return datetime.now(UTC).date()


def link_window(day: date, days: int, after: int, today: date | None = None) -> tuple[date, date]:
    """A `days`-long inclusive date window for a link from a record dated `day`: up to `after` days past
    `day` (not past today unless `day` is), the rest before it, so the record's neighbours are found.

    >>> link_window(date(2026, 9, 10), 7, 3, today=date(2026, 11, 27))
    (datetime.date(2026, 9, 7), datetime.date(2026, 9, 13))
    >>> link_window(date(2026, 11, 26), 7, 3, today=date(2026, 11, 27))
    (datetime.date(2026, 11, 21), datetime.date(2026, 11, 27))
    """
    days = max(1, days)
    after = min(max(0, after), days - 1)
    end = max(day, min(day + timedelta(days=after), today or today_utc()))
    return end - timedelta(days=days - 1), end


def _values(params: Params, key: str) -> Sequence[str]:
    values = params.get(key) or ()
    return (values,) if isinstance(values, str) else values


def _one(params: Params, key: str) -> str | None:
    values = _values(params, key)
    value = values[-1] if values else None
    return value if value not in (None, "") else None


def _many(params: Params, key: str, comma: bool = False) -> tuple[str, ...]:
    out: list[str] = []
    for v in _values(params, key):
        for part in str(v).split(",") if comma else (str(v),):
            if part.strip() and part.strip() not in out:
                out.append(part.strip())
    return tuple(out)


def _date(params: Params, key: str, problems: list[str]) -> date | None:
    raw = _one(params, key)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"{key}: {raw!r} is not a date (YYYY-MM-DD); using the default")
        return None


def _when(params: Params, key: str, problems: list[str]) -> date | None:
    """A date or a UTC date-time (a `datetime`, itself a `date`) from the URL; None (reported) if neither."""
    raw = _one(params, key)
    if raw is None:
        return None
    try:
        return parse_when(raw, key)
    except QueryValidationError:
        problems.append(f"{key}: {raw!r} is not a date (YYYY-MM-DD) or date-time; using the default")
        return None


def day_of(value: date) -> date:
    """The date of a date or of a date-time."""
    return value.date() if isinstance(value, datetime) else value


def _offset(params: Params, key: str) -> int | None:
    """How many rows come before the page (for "Rows 301–400 of N"); None when absent or not a number."""
    raw = _one(params, key)
    return int(raw) if raw is not None and raw.isdigit() and 0 < int(raw) < 10**9 else None


def _flag(params: Params, key: str) -> bool:
    return (_one(params, key) or "").lower() in ("1", "true", "yes", "on")


def _put(out: dict[str, str | list[str]], key: str, value: Any) -> None:
    if value is None or value == () or value is False or value == "":
        return
    if value is True:
        out[key] = "1"
    elif isinstance(value, tuple):
        out[key] = [str(v) for v in value]
    elif isinstance(value, datetime):
        out[key] = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(value, date):
        out[key] = value.isoformat()
    else:
        out[key] = str(value)


@dataclass(frozen=True)
class SearchFilters:
    """The Search (and Activity) page's filters, page cursor and selected row."""

    range: str = DEFAULT_RANGE
    date_from: date | None = None
    date_to: date | None = None
    sources: tuple[str, ...] = ()
    entity_types: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    actor_name: str | None = None
    actor_types: tuple[str, ...] = ()
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
    order: str | None = None  # None: newest first (the default), so views that list set values skip it
    cursor: str | None = None
    direction: str = "next"
    selected: str | None = None
    offset: int | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    #: URL key of each field (short, stable: links in tickets must keep working): the filter table's keys,
    #: plus the view's own.
    VIEW_KEYS = {
        "range": "range",
        "date_from": "from",
        "date_to": "to",
        "cursor": "cursor",
        "direction": "dir",
        "order": "order",
        "selected": "sel",
        "offset": "pos",
    }

    @classmethod
    def keys(cls) -> dict[str, str]:
        """Each field's URL key: the view's own, then one per row of the filter table."""
        return {**cls.VIEW_KEYS, **{f.name: f.url_key for f in filters.FILTERS}}

    @classmethod
    def from_params(cls, params: Params) -> SearchFilters:
        """Filters from URL parameters; unknown keys are ignored, malformed values reported in `problems`."""
        problems: list[str] = []
        k = cls.keys()
        rng = _one(params, k["range"])
        if rng is not None and rng not in RANGE_PRESETS:
            problems.append(f"range: {rng!r} is not one of {', '.join(RANGE_PRESETS)}; using the default")
            rng = None
        date_from = _when(params, k["date_from"], problems)
        date_to = _when(params, k["date_to"], problems)
        if rng is None:
            rng = "custom" if (date_from or date_to) else DEFAULT_RANGE
        direction = _one(params, k["direction"]) or "next"
        if direction not in ("next", "prev"):
            problems.append(f"dir: {direction!r} is not next or prev; using next")
            direction = "next"
        order = _one(params, k["order"])
        if order not in (None, *ORDERS[1:]):
            if order != ORDERS[0]:
                problems.append(f"order: {order!r} is not one of {', '.join(ORDERS)}; using {ORDERS[0]}")
            order = None
        values: dict[str, Any] = {}
        for f in filters.FILTERS:
            if f.many:
                values[f.name] = _many(params, f.url_key, comma=f.widget == "list_text")
            elif f.kind == "flag":
                values[f.name] = _flag(params, f.url_key)
            else:
                values[f.name] = _one(params, f.url_key)
        return cls(
            range=rng,
            date_from=date_from,
            date_to=date_to,
            cursor=_one(params, k["cursor"]),
            direction=direction,
            order=order,
            selected=_one(params, k["selected"]),
            offset=_offset(params, k["offset"]),
            problems=tuple(problems),
            **values,
        )

    def to_params(self) -> dict[str, str | list[str]]:
        """Only the values that differ from the defaults, keyed as in the URL."""
        out: dict[str, str | list[str]] = {}
        keys = self.keys()
        for f in fields(self):
            if f.name == "problems":
                continue
            value = getattr(self, f.name)
            if (f.name, value) in (("range", DEFAULT_RANGE), ("direction", "next")):
                continue
            if f.name in ("date_from", "date_to") and self.range != "custom":
                continue
            if f.name in keys:  # a field the filter table no longer has is not written
                _put(out, keys[f.name], value)
        return out

    def dates(self, today: date | None = None) -> tuple[date, date]:
        """The inclusive UTC date range this view covers (presets are relative to `today`)."""
        today = today or today_utc()
        if self.range == "today":
            return today, today
        if self.range == "2d":
            return today - timedelta(days=1), today
        if self.range in TIME_PRESETS:
            start, stop = self.times()
            assert start is not None and stop is not None
            return start.date(), stop.date()
        if self.range == "30d":
            return today - timedelta(days=29), today
        if self.range == "custom":
            end = day_of(self.date_to or self.date_from or today)
            return day_of(self.date_from) if self.date_from else end - timedelta(days=6), end
        return today - timedelta(days=6), today

    def times(self, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
        """The time-of-day bounds (UTC, to the second) within the dates: a time preset's window up to
        `now`, or the date-times typed for a custom range; None where whole days are meant."""
        if self.range in TIME_PRESETS:
            return relative_range(self.range, now)
        if self.range != "custom":
            return None, None
        start = self.date_from if isinstance(self.date_from, datetime) else None
        end = self.date_to if isinstance(self.date_to, datetime) else None
        return start, end

    def page_reset(self) -> SearchFilters:
        """The same filters on the first page with nothing selected (after the filters change)."""
        return replace(self, cursor=None, direction="next", selected=None, offset=None)

    def search_sources(self, allowed: Sequence[str]) -> tuple[str, ...]:
        """The sources this view searches among the user's `allowed` ones: those chosen, or when none is,
        every allowed source but the explorer's own access events (unless `include_explorer_events`).

        >>> SearchFilters().search_sources(["auditlog.explorer", "shop"]), SearchFilters(
        ...     sources=("auditlog.explorer",)).search_sources(["auditlog.explorer", "shop"])
        (('shop',), ('auditlog.explorer',))
        """
        chosen = tuple(s for s in self.sources if s in allowed)
        return chosen or filters.default_sources(allowed, self.include_explorer_events)

    def to_query(self, sources: Sequence[str], limit: int = 100, today: date | None = None) -> AuditLogQuery:
        """The library query for these filters over `sources` (the user's allowed, chosen sources).

        Construction may raise QueryValidationError (e.g. an unknown action in a hand-edited URL).
        """
        time_from, time_to = self.times()
        date_from, date_to = self.dates(today)
        if self.range in TIME_PRESETS and time_from is not None and time_to is not None:
            date_from, date_to = time_from.date(), time_to.date()  # one `now` for dates and times
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in filters.FILTERS}
        values["sources"] = tuple(sources)
        values["include_children"] = self.include_children and self.entity_id is not None
        return AuditLogQuery(
            date_from=date_from,
            date_to=date_to,
            time_from=time_from,
            time_to=time_to,
            limit=limit,
            cursor=self.cursor,
            direction=cast("Direction", self.direction),  # AuditLogQuery refuses anything but next/prev
            order=cast("Order", self.order or ORDERS[0]),  # and anything but newest/oldest
            **values,  # AuditLogQuery turns action and actor type names into enums
        )


@dataclass(frozen=True)
class EntityView:
    """The Entity page: which entity, which dates, children or not, the "state at" moment and the change
    whose full diff is open."""

    entity_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    include_children: bool = True
    at: datetime | None = None
    selected: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    DEFAULT_DAYS = 90

    @classmethod
    def from_params(cls, params: Params) -> EntityView:
        """The view from URL parameters `eid`, `from`, `to`, `children` (default on), `at` (ISO time) and
        `sel` (the Id of the change whose diff is open)."""
        problems: list[str] = []
        at_raw = _one(params, "at")
        at = None
        if at_raw is not None:
            try:
                at = datetime.fromisoformat(at_raw.replace("Z", "+00:00"))
                at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
            except ValueError:
                problems.append(f"at: {at_raw!r} is not an ISO date-time; showing the latest state")
        children = _one(params, "children")
        return cls(
            entity_id=_one(params, "eid"),
            date_from=_date(params, "from", problems),
            date_to=_date(params, "to", problems),
            include_children=True if children is None else _flag(params, "children"),
            at=at,
            selected=_one(params, "sel"),
            problems=tuple(problems),
        )

    def to_params(self) -> dict[str, str | list[str]]:
        """Non-default values keyed as in the URL."""
        out: dict[str, str | list[str]] = {}
        _put(out, "eid", self.entity_id)
        _put(out, "from", self.date_from)
        _put(out, "to", self.date_to)
        if not self.include_children:
            out["children"] = "0"
        if self.at is not None:
            out["at"] = self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _put(out, "sel", self.selected)
        return out

    def dates(self, today: date | None = None) -> tuple[date, date]:
        """The history's date range: default the last 90 days up to today."""
        today = today or today_utc()
        end = self.date_to or today
        return self.date_from or end - timedelta(days=self.DEFAULT_DAYS - 1), end


@dataclass(frozen=True)
class CorrelationView:
    """The Correlation page: one correlation id and an optional date range."""

    correlation_id: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_params(cls, params: Params) -> CorrelationView:
        """The view from URL parameters `corr`, `from`, `to`."""
        problems: list[str] = []
        return cls(
            correlation_id=_one(params, "corr"),
            date_from=_date(params, "from", problems),
            date_to=_date(params, "to", problems),
            problems=tuple(problems),
        )

    def to_params(self) -> dict[str, str | list[str]]:
        """Non-default values keyed as in the URL."""
        out: dict[str, str | list[str]] = {}
        _put(out, "corr", self.correlation_id)
        _put(out, "from", self.date_from)
        _put(out, "to", self.date_to)
        return out
