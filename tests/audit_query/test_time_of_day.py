"""Time of day (issue 13 item 3): `--from/--to` and the query take UTC date-times to the second as well as
dates, and relative ranges; answers checked against a Python oracle over the same rows; dt still prunes."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta

import pytest

from audit_query import AuditLogClient, AuditLogQuery, QueryValidationError
from audit_query import sql as b
from audit_query.cli import add_filter_arguments, query_from_args
from audit_query.export import export_command
from audit_query.model import parse_when, relative_range
from explorer.state import SearchFilters

from .conftest import DAYS, SOURCES


def parse(*argv: str) -> AuditLogQuery:
    p = argparse.ArgumentParser()
    add_filter_arguments(p)
    p.add_argument("--format")
    p.add_argument("--output")
    return query_from_args(p.parse_args(["--source", "billing", *argv]))


def oracle(rows: list[dict], start: datetime, end: datetime) -> list[str]:
    """Ids of rows of every source whose Timestamp lies in [start, end] (the end second inclusive)."""
    def ts(r: dict) -> datetime:
        t = r["Timestamp"]
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t
    stop = end + timedelta(seconds=1)
    return sorted(r["Id"] for r in rows if r["source"] in SOURCES and start <= ts(r) < stop)


def test_what_happened_between_two_seconds_is_answered_exactly(
    client: AuditLogClient, rows: list[dict]
) -> None:
    day = DAYS[1]
    start = datetime(day.year, day.month, day.day, 12, 0, 1, tzinfo=UTC)
    end = datetime(day.year, day.month, day.day, 12, 0, 3, tzinfo=UTC)
    q = AuditLogQuery(day, day, SOURCES, time_from=start, time_to=end, limit=1000)
    got = sorted(r.Id for r in client.query(q).rows)
    assert got == oracle(rows, start, end)
    assert got and len(got) < len([r for r in rows if r["dt"] == day.isoformat()])
    assert client.count(q) == len(got)


def test_the_sql_keeps_the_dt_range_and_adds_the_timestamp_bounds() -> None:
    q = parse("--from", "2026-11-25T14:00:00Z", "--to", "2026-11-25T15:00:00")
    where = b.build_where(q, dialect="athena")
    assert "\"dt\" BETWEEN '2026-11-25' AND '2026-11-25'" in where
    assert "\"Timestamp\" >= TIMESTAMP '2026-11-25 14:00:00.000'" in where
    assert "\"Timestamp\" < TIMESTAMP '2026-11-25 15:00:01.000'" in where


def test_cli_accepts_dates_date_times_and_relative_ranges() -> None:
    q = parse("--from", "2026-11-25 14:00", "--to", "2026-11-26")
    assert (q.date_from, q.date_to) == (date(2026, 11, 25), date(2026, 11, 26))
    assert q.time_from == datetime(2026, 11, 25, 14, tzinfo=UTC) and q.time_to is None
    assert parse("--from", "2026-11-25").time_from is None
    q = parse("--last", "15m")
    assert q.time_from is not None and q.time_to is not None
    assert q.time_to - q.time_from == timedelta(minutes=15)
    with pytest.raises(QueryValidationError):
        parse("--last", "1h", "--from", "2026-11-25")
    with pytest.raises(QueryValidationError) as info:
        parse("--from", "2026-11-25T25:00")
    assert info.value.field == "date_from"


def test_a_time_outside_the_dates_or_reversed_is_refused() -> None:
    with pytest.raises(QueryValidationError) as info:
        AuditLogQuery(
            date(2026, 11, 25), date(2026, 11, 25), ("billing",), time_from="2026-11-26T00:00:00"
        ).validate()
    assert info.value.field == "time_from"
    with pytest.raises(QueryValidationError) as info:
        AuditLogQuery(
            date(2026, 11, 25), date(2026, 11, 25), ("billing",),
            time_from="2026-11-25T10:00:00", time_to="2026-11-25T09:00:00",
        ).validate()
    assert (info.value.field, info.value.rule) == ("time_to", "order")


def test_export_line_and_url_keep_the_times() -> None:
    q = parse("--from", "2026-11-25T14:00:00", "--to", "2026-11-25T15:00:30")
    assert "--from 2026-11-25T14:00:00Z --to 2026-11-25T15:00:30Z" in export_command(q, "csv")
    f = SearchFilters(range="custom", date_from=q.time_from, date_to=q.time_to)
    assert f.to_params()["from"] == "2026-11-25T14:00:00Z"
    back = SearchFilters.from_params(f.to_params())
    assert back == f and back.to_query(["billing"]).time_to == q.time_to


def test_relative_presets_are_windows_up_to_now() -> None:
    now = datetime(2026, 11, 26, 0, 10, tzinfo=UTC)
    start, end = relative_range("1h", now)
    assert (start, end) == (datetime(2026, 11, 25, 23, 10, tzinfo=UTC), now)
    assert parse_when("2026-11-26T01:00:00+01:00", "x") == datetime(2026, 11, 26, tzinfo=UTC)
    q = SearchFilters(range="24h").to_query(["billing"])
    assert q.time_from is not None and q.time_to is not None
    assert q.time_to - q.time_from == timedelta(hours=24)
    assert q.date_from == q.time_from.date() and q.date_to == q.time_to.date()
