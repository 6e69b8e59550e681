"""`AuditLogClient`: the public entry point. Validates queries, builds SQL for the backend's dialect, runs it,
and turns rows into records and pages with signed cursors. Knows nothing about the engine beyond the
`Backend` protocol, and imports no UI code.

Every result says which stored files its read had to leave out (`Page.unreadable`, and `.unreadable` on the
lists of `history`, `correlation`, `counts` and on `count`'s number): a backend that reads files itself
(DuckDB, its `run`) answers from the readable files instead of failing on one broken file.

>>> import tempfile
>>> from datetime import date
>>> from audit_query.backends.duckdb import DuckDBBackend
>>> client = AuditLogClient(DuckDBBackend(tempfile.mkdtemp()))
>>> client.query(AuditLogQuery(date(2026, 11, 26), date(2026, 11, 26), ("shop.orders",))).rows
[]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from . import sql
from .backends.base import ROWS, Backend, Merge, ResultSet
from .cursor import Keyset, decode_cursor, encode_cursor
from .errors import CursorError, QueryValidationError
from .filters import default_sources
from .model import (
    SOURCE_PATTERN,
    AuditLogQuery,
    AuditRecord,
    Count,
    CountRow,
    Page,
    QueryStats,
    Rows,
    UnreadableFile,
)
from .settings import QuerySettings


class AuditLogClient:
    """Query the audit log through one backend (DuckDB locally, Athena in the cloud)."""

    def __init__(self, backend: Backend, settings: QuerySettings | None = None) -> None:
        self.backend = backend
        self.settings = settings or QuerySettings()

    # -- helpers ---------------------------------------------------------------------------------------

    def _run(self, q: AuditLogQuery, build: Callable[[str], str], merge: Merge = ROWS) -> ResultSet:
        """Run the SQL `build(table_ref)` makes for `q`: through the backend's `run` where it has one (it may
        retry without unreadable files, or add the not-yet-processed tail as `merge` says), else over
        `table_ref(q)` once."""
        run = getattr(self.backend, "run", None)
        if run is not None:
            result: ResultSet = run(q, build, merge=merge)
            return result
        return self.backend.execute(build(self.backend.table_ref(q)))

    def _records(
        self, q: AuditLogQuery, build: Callable[[str], str]
    ) -> tuple[list[AuditRecord], QueryStats | None, tuple[UnreadableFile, ...]]:
        result = self._run(q, build)
        rows = [AuditRecord.from_row(r) for r in result]
        return rows, getattr(result, "stats", None), getattr(result, "unreadable", ())

    def _default_sources(self, sources: Sequence[str] | None) -> tuple[str, ...]:
        if sources is not None:
            return tuple(sources)
        return tuple(self.sources())

    def _position(self, query: AuditLogQuery) -> Keyset | None:
        if query.cursor is None:
            return None
        position = decode_cursor(query.cursor, query, self.settings.cursor_secret)
        if position.direction != query.direction:
            raise CursorError(
                f"this cursor reads direction {position.direction!r} but the query asks for "
                f"{query.direction!r}; use query.next_query(page) / query.prev_query(page)",
                "direction",
            )
        return position

    def _page_rows(
        self, q: AuditLogQuery, position: Keyset | None
    ) -> tuple[list[AuditRecord], QueryStats | None, tuple[UnreadableFile, ...]]:
        """The page's `limit + 1` rows in reading order, their stats and the files their query left out.

        Every row of an older `dt` partition is older (dt is the UTC date of Timestamp) and every row of a
        newer one newer (so, oldest first, the other way round): the rows of the day a page starts in come
        first, then those of the next days in reading order. A backend with `probe_first_day` reads that day
        first and, while the rows found fall short of `limit + 1`, the next 2, 4, 8... days for the rest:
        a first Search page over a week reads one day, not seven (bench/RESULTS.md), and a sparse filter
        (a changed field with a value) reads its week in three statements instead of one day plus the week.
        A query the backend narrows by a key (an exact actor, an entity or a correlation id: only the files
        that may hold it are opened) reads the rest of its range in one statement after the first day, as a
        rare actor's 90 days would otherwise cost seven statements.
        The stats are those of the last statement.
        """
        d = self.backend.dialect
        day = _start_day(q, position) if self.backend.probe_first_day else None
        if day is None:
            return self._records(q, _page_sql(q, position, d))
        ascending = (q.order == "oldest") != (position is not None and position.direction == "prev")
        rows: list[AuditRecord] = []
        left_out: dict[UnreadableFile, None] = {}
        span = 1
        narrowed = q.actor_name is not None or q.entity_id is not None or q.correlation_id is not None
        while True:
            if ascending:
                first, last = day, min(q.date_to, day + timedelta(days=span - 1))
            else:
                first, last = max(q.date_from, day - timedelta(days=span - 1)), day
            # limit + 1 rows in all: the probe's own "limit + 1" asks for exactly the rows still missing
            probe = replace(q, date_from=first, date_to=last, limit=q.limit - len(rows))
            found, stats, unreadable = self._records(probe, _page_sql(probe, position, d))
            rows.extend(found)
            left_out.update(dict.fromkeys(unreadable))
            if len(rows) > q.limit or (last >= q.date_to if ascending else first <= q.date_from):
                return rows, stats, tuple(left_out)
            day = (last + timedelta(days=1)) if ascending else (first - timedelta(days=1))
            if narrowed:  # the backend opens only the files that may hold the key: read the rest at once
                span = ((q.date_to - day) if ascending else (day - q.date_from)).days + 1
            else:
                span *= 2

    # -- public API ------------------------------------------------------------------------------------

    def query(self, q: AuditLogQuery) -> Page:
        """One page of `q` in its order (newest first unless `q.order` is "oldest"), with cursors to the
        page after it (`next_cursor`) and the one before."""
        q.validate(self.settings)
        position = self._position(q)
        rows, stats, unreadable = self._page_rows(q, position)
        extra = len(rows) > q.limit
        rows = rows[: q.limit]
        reading_back = position is not None and position.direction == "prev"
        if reading_back:
            rows.reverse()
        secret = self.settings.cursor_secret
        older = newer = False
        if rows:
            older = extra if not reading_back else True
            newer = position is not None if not reading_back else extra
        next_cursor = encode_cursor(Keyset.of(rows[-1], "next"), q, secret) if older else None
        prev_cursor = encode_cursor(Keyset.of(rows[0], "prev"), q, secret) if newer else None
        return Page(
            rows=rows,
            next_cursor=next_cursor,
            prev_cursor=prev_cursor,
            has_more=extra,
            stats=stats,
            unreadable=unreadable,
        )

    def count(self, q: AuditLogQuery) -> Count:
        """How many rows match `q`'s filters (limit, cursor and direction do not matter); an int whose
        `unreadable` names the files the count had to leave out."""
        q.validate(self.settings)
        d = self.backend.dialect
        result = self._run(
            q, lambda ref: sql.build_count_sql(q, dialect=d, table_ref=ref), Merge("count")
        )
        return Count(int(result[0]["count"]) if result else 0, getattr(result, "unreadable", ()))

    def counts(self, q: AuditLogQuery, group_by: str | Sequence[str]) -> Rows[CountRow]:
        """Row counts of `q` grouped by "day", "hour", "source", "action", "actor", "actor_type" or
        "entity_type" (one name, or two for a breakdown): days and hours in time order, other groups
        largest first. The list's `unreadable` names the files the count had to leave out."""
        q.validate(self.settings)
        d = self.backend.dialect
        try:
            sql.build_counts_sql(q, group_by, dialect=d, table_ref="t")  # bad group_by: fail before reading
        except ValueError as exc:
            raise QueryValidationError("group_by", "enum", str(exc)) from None
        first = group_by if isinstance(group_by, str) else group_by[0]
        result = self._run(
            q,
            lambda ref: sql.build_counts_sql(q, group_by, dialect=d, table_ref=ref),
            Merge("counts", time_order=first in ("day", "hour")),
        )
        return Rows(
            (
                CountRow(
                    key=None if r["key"] is None else str(r["key"]),
                    count=int(r["count"]),
                    key2=None if r.get("key2") is None else str(r["key2"]),
                )
                for r in result
            ),
            getattr(result, "unreadable", ()),
        )

    def _related_range(self, date_from: date | None, date_to: date | None, days: int) -> tuple[date, date]:
        end = date_to or datetime.now(UTC).date()
        start = date_from or end - timedelta(days=days - 1)
        return start, end

    def _check_limit(self, limit: int | None) -> int:
        n = self.settings.max_related_rows if limit is None else limit
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= self.settings.max_related_rows:
            raise QueryValidationError(
                "limit", "range", f"{n!r} is outside 1..{self.settings.max_related_rows}"
            )
        return n

    def history(
        self,
        entity_id: str,
        *,
        include_children: bool = True,
        date_from: date | None = None,
        date_to: date | None = None,
        sources: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Rows[AuditRecord]:
        """Every change of one entity (and, by default, of its children), newest first; the list's
        `unreadable` names the files (data or entity index) the read had to leave out.

        Dates default to the last `max_history_days` days up to today (UTC); sources to every discovered
        source; limit to `max_related_rows`.
        """
        start, end = self._related_range(date_from, date_to, self.settings.max_history_days)
        srcs = self._default_sources(sources)
        n = self._check_limit(limit)
        q = AuditLogQuery(start, end, srcs, entity_id=entity_id, include_children=include_children)
        if not srcs:
            replace(q, sources=("none",)).validate(self.settings)  # still report bad input
            return Rows()
        q.validate(self.settings)
        d = self.backend.dialect
        rows, _, unreadable = self._records(
            q, lambda ref: sql.build_history_sql(q, limit=n, dialect=d, table_ref=ref)
        )
        return Rows(rows, unreadable)

    def correlation(
        self,
        correlation_id: str,
        *,
        date_from: date | None = None,
        date_to: date | None = None,
        sources: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Rows[AuditRecord]:
        """Every row that one request (correlation id) produced across sources, in time order; the list's
        `unreadable` names the files the read had to leave out.

        Dates default to the last `max_history_days` days up to today (UTC): one id narrows the scan, so a
        request a year old is found without dates (issue 13 item 5); sources default to every discovered one.
        """
        start, end = self._related_range(date_from, date_to, self.settings.max_history_days)
        srcs = self._default_sources(sources)
        n = self._check_limit(limit)
        q = AuditLogQuery(start, end, srcs, correlation_id=correlation_id)
        if not srcs:
            replace(q, sources=("none",)).validate(self.settings)
            return Rows()
        q.validate(self.settings)
        d = self.backend.dialect
        rows, _, unreadable = self._records(
            q, lambda ref: sql.build_correlation_sql(q, limit=n, dialect=d, table_ref=ref)
        )
        return Rows(rows, unreadable)

    def default_sources(self, include_explorer_events: bool = False) -> tuple[str, ...]:
        """What a search that names no sources covers: every queryable source, less the explorer's own
        access events unless `include_explorer_events` (filters.default_sources)."""
        return default_sources(self.sources(), include_explorer_events)

    def sources(self) -> list[str]:
        """Every queryable source with data (from the storage listing, cached briefly), sorted.

        A folder whose name breaks the source rule cannot be queried (the ETL quarantines such events, so
        only files put there by hand can have one); it is left out so it cannot break every default query.
        """
        return [s for s in self.backend.list_sources() if SOURCE_PATTERN.match(s)]

    def unreadable_files(self) -> list[UnreadableFile]:
        """Every stored file the backend cannot read (dt, source, path relative to the data folder), for the
        Pipeline page; empty for a backend that does not read files itself (Athena)."""
        check = getattr(self.backend, "unreadable_files", None)
        return list(check()) if check is not None else []

    def iter_pages(self, q: AuditLogQuery) -> Iterator[Page]:
        """Every page of `q` from its cursor (or the first page) in its order; export walks this."""
        current: AuditLogQuery | None = q
        while current is not None:
            page = self.query(current)
            yield page
            current = current.next_query(page)

    def close(self) -> None:
        """Close the backend."""
        self.backend.close()


def _page_sql(q: AuditLogQuery, position: Keyset | None, dialect: str) -> Callable[[str], str]:
    """The page statement of `q` at `position` over a table reference (what a backend's `run` calls)."""
    return lambda ref: sql.build_page_sql(q, position=position, dialect=dialect, table_ref=ref)


def _start_day(q: AuditLogQuery, position: Keyset | None) -> date | None:
    """The day whose rows come first on `q`'s page at `position`, when `q`'s range holds other days too;
    None when the range is that one day or the position lies outside the range (no row to find). Reading
    newest first that is the range's last day (or the position's); oldest first, its first day.

    >>> from audit_query.cursor import to_millis
    >>> q = AuditLogQuery("2026-11-20", "2026-11-27", ("shop.orders",))
    >>> _start_day(q, None), _start_day(q, Keyset(to_millis(datetime(2026, 11, 22, 23, 59)), "x", "next"))
    (datetime.date(2026, 11, 27), datetime.date(2026, 11, 22))
    >>> _start_day(q, Keyset(to_millis(datetime(2026, 12, 5)), "x", "next"))  # newer than the range
    datetime.date(2026, 11, 27)
    >>> _start_day(q, Keyset(to_millis(datetime(2026, 11, 10)), "x", "next")) is None  # older: nothing left
    True
    >>> _start_day(q, Keyset(to_millis(datetime(2026, 11, 10)), "x", "prev"))  # reading newer rows
    datetime.date(2026, 11, 20)
    >>> _start_day(replace(q, order="oldest"), None)  # oldest first: the range's first day
    datetime.date(2026, 11, 20)
    """
    if q.date_from >= q.date_to:
        return None
    backwards = position is not None and position.direction == "prev"
    ascending = (q.order == "oldest") != backwards
    if position is None:
        return q.date_from if ascending else q.date_to
    day = position.timestamp().date()
    if not ascending:
        return min(day, q.date_to) if day >= q.date_from else None
    return max(day, q.date_from) if day <= q.date_to else None
