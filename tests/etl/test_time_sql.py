"""The ETL's SQL time parse (a strptime fast path for `...SS.mmmZ`, the regex for every other shape) reads
each text exactly as etl.rules.parse_event_time does, so both ETL paths store the same instant."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from etl import sql as local
from etl.rules import parse_event_time

# Shapes the fast path must refuse or read exactly: impossible dates, leap seconds, hour 24, short years.
EDGES = [
    "2026-11-27T13:37:06.840Z", "2026-02-29T00:00:00.000Z", "2024-02-29T23:59:59.999Z",
    "2026-02-30T10:00:00.000Z", "2026-13-01T00:00:00.000Z", "2026-11-27T24:00:00.000Z",
    "2026-11-27T23:59:60.000Z", "0999-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z",
    "1970-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "2026-11-27t13:37:06.840Z",
    "2026-11-27T13:37:06.840z", "2026-11-27 13:37:06.840Z", "+026-11-27T13:37:06.840Z",
    "2026-1-027T13:37:06.840Z", "2026-11-27T13:37:06.84Z", "2026-11-27T13:37:06.8400Z",
    "2026-11-27T13:37:06Z", "2026-11-27T13:37:06.840+02:00", "2026-11-27T13:37:06.840-23:59",
    "2026-11-27T13:37:06.840+24:00", " 2026-11-27T13:37:06.840Z", "2026-11-27T13:37:06.840Z\n",
    "9999-12-31T23:59:59.999-01:00", "9999-12-31T23:59:59.999+01:00", "1969-12-31T23:59:59.999-00:01",
    "1969-12-31T23:00:00-00:59", "1969-12-30T23:59:59-23:59",
]


def sql_times(texts: list[str]) -> list[datetime | None]:
    """The SQL parse of each text, with the ETL's time window applied as its reason check does."""
    con = duckdb.connect()
    con.execute(local.MACROS)
    texts_sql = "SELECT unnest(?) AS t, generate_subscripts(?, 1) AS i"
    rows = con.execute(
        f"SELECT CASE WHEN {local.TIME_IN_RANGE} THEN ts END FROM (SELECT i, {local.TIME_FROM_PARTS} "
        f"FROM (SELECT i, {local.TIME_PARTS} FROM ({texts_sql}))) ORDER BY i",
        [texts, texts],
    ).fetchall()
    return [ts for (ts,) in rows]


def test_fast_path_and_regex_agree_with_the_python_rule_on_edge_shapes() -> None:
    assert sql_times(EDGES) == [parse_event_time(t) for t in EDGES]
    assert sql_times(["2026-11-27T13:37:06.840Z"]) == [datetime(2026, 11, 27, 13, 37, 6, 840000)]


digits = st.text("0123456789", min_size=2, max_size=2)
shaped = st.builds(
    "{}-{}-{}T{}:{}:{}.{}{}".format,
    st.text("0123456789", min_size=4, max_size=4), digits, digits, digits, digits, digits,
    st.text("0123456789", min_size=1, max_size=4),
    st.sampled_from(["Z", "+01:30", "-00:00", "z", "", "-23:59", "+23:59", "-00:01"]),
)
# Instants near both ends of the window, written with offsets: local dates on the other side of the edge.
edges = st.builds(
    "{}{}{:02d}:{:02d}".format,
    st.sampled_from(["1969-12-31T23:59:59.999", "1969-12-31T00:00:00", "9999-12-31T23:59:59.999",
                     "9999-12-31T00:30:00", "1970-01-01T00:00:00"]),
    st.sampled_from(["+", "-"]), st.integers(0, 23), st.integers(0, 59),
)
instants = st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(9999, 12, 30)).map(
    lambda d: d.isoformat(timespec="milliseconds") + "Z"
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(shaped, instants, edges, st.text(max_size=30)), min_size=1, max_size=40))
def test_sql_time_parse_equals_parse_event_time(texts: list[str]) -> None:
    texts = [t.replace("\x00", "") for t in texts]
    assert sql_times(texts) == [parse_event_time(t) for t in texts]


def test_offsets_convert_to_utc_like_the_python_rule() -> None:
    text = "2026-11-27T01:30:00.123456+02:00"
    assert sql_times([text]) == [datetime(2026, 11, 27, 1, 30, 0, 123000) - timedelta(hours=2)]
