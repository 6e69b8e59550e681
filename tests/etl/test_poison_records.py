"""No single record can stop a run (issue 10 item 2): one record drawn from the whole space of times, ids and
JSON shapes, inside a day of good events. The run always finishes and every record is accounted for."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import glue_job, raw
from etl.local import python_record, run_etl
from etl.rules import MESSAGES, REASONS
from tests.etl.conftest import make_event, write_raw
from tests.etl.test_local_etl import quarantine, rows

DAY = date(2026, 11, 27)
GOOD = [make_event(i) for i in range(20)]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def times(draw: st.DrawFn) -> Any:
    """Event times: well-formed ones over years 1-9999 with any offset, edge instants, and junk."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
    minutes = draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
    sign = "+" if minutes > 0 else "-"
    zone = "Z" if minutes == 0 else f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    frac = draw(st.sampled_from(["", ".5", ".123", ".999999", ".0000001"]))
    well_formed = moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + frac + zone
    edges = [
        "2262-04-11T23:47:16.854Z", "2262-04-11T23:47:16.855Z", "2262-04-12T00:00:00Z",
        "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999-00:01", "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z",
        "2026-11-27T10:00:00z", "2026-02-29T00:00:00Z", "2026-11-27T24:00:00Z",
    ]
    return draw(st.one_of(st.just(well_formed), st.sampled_from(edges), json_values))


ids = st.one_of(
    st.text(max_size=6), st.sampled_from(["o\n1", "\r", "\x00", "a\x85", "\x7f", "\u2028", "", "\ud7ff"]),
    st.integers(), st.floats(allow_nan=False), json_values,
)


@st.composite
def records(draw: st.DrawFn) -> str:
    """One raw line: an event with a drawn time, entity id and parent id; any JSON value; broken text."""
    kind = draw(st.sampled_from(["event", "event", "event", "json", "text", "concatenated"]))
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "text":
        return draw(st.text(max_size=40)).replace("\n", " ").replace("\r", " ")
    item: dict[str, Any] = {"entity": {"id": draw(ids)}}
    if draw(st.booleans()):
        item["parent"] = {"id": draw(ids), "type": "P"}
    event = make_event(1000, time=draw(times()), entities=[item])
    if draw(st.booleans()):
        event["source"] = draw(st.one_of(st.just("shop.orders"), st.text(max_size=5), json_values))
    text = json.dumps(event, ensure_ascii=draw(st.booleans()))
    if kind == "concatenated":
        text = json.dumps(make_event(2000)) + text
    cut = draw(st.integers(0, 3))
    return text[: len(text) - cut] if cut else text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records(), position=st.integers(0, len(GOOD)))
def test_one_drawn_record_never_stops_the_run_and_every_record_is_counted(record: str, position: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="poison-"))
    try:
        lines: list[Any] = [*GOOD[:position], record, *GOOD[position:]]
        write_raw(data_dir, datetime(2026, 11, 27, 3), lines)
        report = run_etl(data_dir, DAY)
        assert report.events_in == report.events_stored + report.quarantined + report.duplicates_removed
        stored = rows(data_dir)
        assert {f"ev-{i}" for i in range(20)} <= {r["EventId"] for r in stored}
        assert len(stored) == report.rows_out
        q = quarantine(data_dir)
        assert len(q) == report.quarantined
        assert all(e["reason"] in REASONS and e["message"].startswith(MESSAGES[e["reason"]]) for e in q)
        assert all(datetime(1970, 1, 1) <= r["Timestamp"] <= datetime(9999, 12, 31, 23, 59, 59, 999000)
                   for r in stored)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@settings(max_examples=300, deadline=None)
@given(record=records())
def test_both_etls_give_a_parsed_record_the_same_reason_and_message(record: str) -> None:
    """The Glue job's record check and the local Python path apply etl.rules alike (no Spark needed)."""
    for rec in raw.split_records(record):
        if rec.value is None:
            continue
        local_reason = python_record(rec.value)[0]
        glue_reason, glue_message = glue_job._check(rec.value)
        assert glue_reason == local_reason
        assert glue_message == (MESSAGES[local_reason] if local_reason else None)

