"""The Changes column (issue 13 item 2): one rule, etl.rules.changes, and every path that writes it.

The local ETL computes it in DuckDB SQL for the lines it takes whole (etl.sql's field_changes macro) and
with the Python rule for the others; the tail runs the same steps; the Glue job calls the rule
(tests/etl/test_glue_parity.py). These tests hold the SQL to the rule over random JSON objects, through the
macro and through whole runs, and check the cases a reader of the column would notice.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_query.tail import tail_table
from etl import layout, sql
from etl.local import run_etl
from etl.rules import changes
from etl.schema import CHANGE_TYPE, arrow_schema, column
from tests.etl.conftest import make_event, write_raw

DAY = date(2026, 11, 27)
ARRIVAL = datetime(2026, 11, 27, 10)

# (before text, after text) -> expected Changes, as a reader would check them
TRICKY: list[tuple[str | None, str | None, list[tuple[str, str | None, str | None]]]] = [
    ('{"status":"paid"}', '{"status":"Cancelled"}', [("status", '"paid"', '"Cancelled"')]),
    (None, '{"b":1,"a":null}', [("a", None, "null"), ("b", None, "1")]),  # a Create lists every key, sorted
    ('{"a":1,"b":"x"}', None, [("a", "1", None), ("b", '"x"', None)]),  # a Delete every key
    ('{"a":1,"gone":true}', '{"a":1}', [("gone", "true", None)]),  # a removed key: After None
    ('{"a":null}', '{"a":1}', [("a", "null", "1")]),  # JSON null is the text "null", not absent
    ('{"n":5}', '{"n":5.0}', [("n", "5", "5.0")]),  # numbers compared by their text
    ('{"n":1e2}', '{"n":100.0}', [("n", "1e2", "100.0")]),
    ('{"n":12345678901234567890123}', '{"n":12345678901234567890124}',
     [("n", "12345678901234567890123", "12345678901234567890124")]),
    ('{"s":"\\u00e9"}', '{"s":"é"}', [("s", '"\\u00e9"', '"é"')]),  # escapes kept as stored
    ('{"addr":{"city":"Köln","zip":"1"}}', '{"addr":{"zip":"1","city":"Bonn"}}',
     [("addr.city", '"Köln"', '"Bonn"')]),  # one level deep; reordering at depth 1 is no change
    ('{"a":{"b":{"c":1,"d":2}}}', '{"a":{"b":{"d":2,"c":1}}}', [("a.b", '{"c":1,"d":2}', '{"d":2,"c":1}')]),
    ('{"a":{}}', '{"a":{"x":{}}}', [("a.x", None, "{}")]),
    ('{"a":{"x":1}}', '{"a":[1]}', [("a", '{"x":1}', "[1]")]),  # object on one side only: whole
    ('{"a":1,"a":2}', '{"a":1}', []),  # duplicate keys: the first wins
    ('{"a.b":1,"a":{"b":2}}', '{"a.b":3,"a":{"b":4}}', [("a.b", "1", "3"), ("a.b", "2", "4")]),
    ('"draft"', '"final"', [("", '"draft"', '"final"')]),  # not objects: compared whole under ""
    ('[1,2]', '{"a":1}', [("", "[1,2]", '{"a":1}')]),
    ('{}', '{}', []),
    (None, None, []),
    ('{"k":[1,{"x":null}]}', '{"k":[1,{"x":null}]}', []),
]


@pytest.mark.parametrize(("before", "after", "expected"), TRICKY)
def test_the_rule_on_the_tricky_cases(before: str | None, after: str | None, expected: list[Any]) -> None:
    assert changes(before, after) == expected


def test_the_schema_ends_with_changes() -> None:
    assert arrow_schema().names[-1] == "Changes" and arrow_schema().field("Changes").type == CHANGE_TYPE
    assert column("Changes").duckdb_type == 'STRUCT("Field" VARCHAR, "Before" VARCHAR, "After" VARCHAR)[]'
    assert column("Changes").athena_type == "array<struct<field:string,before:string,after:string>>"


# --- the SQL macro against the rule ------------------------------------------------------------------------

_keys = st.sampled_from(["a", "b", "c", "a.b", "", "é", "k\"q", "\\", "Z", "ä", "1"]) | st.text(max_size=4)
_numbers = st.sampled_from(["5", "5.0", "1e2", "1E2", "-0", "0.10", "12345678901234567890", "1.5", "-3"])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
    | st.sampled_from(["é", "\u00e9", "\n", "\"", "\\u00e9", "😀", "\x7f"])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=10,
)
_objects = st.dictionaries(_keys, _values, max_size=6)


def _text(obj: object, ascii_only: bool, spaced: bool) -> str:
    return json.dumps(obj, ensure_ascii=ascii_only, separators=(", ", ": ") if spaced else (",", ":"))


def _related(draw: st.DrawFn) -> tuple[Any, Any]:
    """A before object and an after object sharing most keys (some changed, removed, added, reordered)."""
    before = draw(_objects)
    after = dict(before)
    for key in draw(st.lists(st.sampled_from(sorted(before)), max_size=3)) if before else []:
        after[key] = draw(_values)
    for key in draw(st.lists(st.sampled_from(sorted(before)), max_size=2)) if before else []:
        after.pop(key, None)
    after.update(draw(st.dictionaries(_keys, _values, max_size=2)))
    if draw(st.booleans()):
        after = dict(reversed(list(after.items())))
    return before, after


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[str | None, str | None]:
    """Texts of a before/after pair: related objects, a Create/Delete, a non-object, or numbers as text."""
    kind = draw(st.sampled_from(["related", "create", "delete", "other", "numbers", "duplicates"]))
    ascii_only, spaced = draw(st.booleans()), draw(st.booleans())
    if kind == "numbers":
        keys = draw(st.lists(st.sampled_from(["n", "m", "o"]), min_size=1, max_size=3, unique=True))
        b = "{" + ",".join(f'"{k}":{draw(_numbers)}' for k in keys) + "}"
        a = "{" + ",".join(f'"{k}":{draw(_numbers)}' for k in keys) + "}"
        return b, a
    if kind == "duplicates":
        return '{"a":1,"b":2,"a":3}', draw(st.sampled_from(['{"a":3}', '{"a":1}', '{"b":2,"a":1,"a":1}']))
    if kind == "other":
        return (_text(draw(_values), ascii_only, spaced), _text(draw(_values | _objects), ascii_only, spaced))
    before, after = _related(draw)
    b, a = _text(before, ascii_only, spaced), _text(after, ascii_only, spaced)
    return {"related": (b, a), "create": (None, a), "delete": (b, None)}[kind]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute(sql.MACROS)
    return c


def _stored(con: duckdb.DuckDBPyConnection, text: str | None) -> str | None:
    """The text the fast path stores for a JSON value DuckDB reads back unchanged (else the line would go
    to the Python path): DuckDB's own serialisation."""
    return None if text is None else con.execute("SELECT json(?)::VARCHAR", [text]).fetchone()[0]


def _macro(con: duckdb.DuckDBPyConnection, before: str | None, after: str | None) -> list[tuple[Any, ...]]:
    lists = sql.CHANGE_LISTS.replace("e.before", "b").replace("e.after", "a")
    got = con.execute(
        f"SELECT {sql.SQL_COLUMNS['Changes']} FROM "
        f"(SELECT *, {lists} FROM (SELECT ?::JSON AS b, ?::JSON AS a))",
        [before, after],
    ).fetchone()[0]
    return [(c["Field"], c["Before"], c["After"]) for c in got]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=_pairs())
def test_the_sql_macro_equals_the_rule(
    con: duckdb.DuckDBPyConnection, pair: tuple[str | None, str | None]
) -> None:
    before, after = (_stored(con, t) for t in pair)
    assert _macro(con, before, after) == changes(before, after)


@pytest.mark.parametrize(("before", "after", "expected"), TRICKY)
def test_the_sql_macro_on_the_tricky_cases(
    con: duckdb.DuckDBPyConnection, before: str | None, after: str | None, expected: list[Any]
) -> None:
    # texts DuckDB reads back unchanged only (the others never reach the macro: their line goes to Python)
    if all(t is None or _stored(con, t) == t for t in (before, after)):
        assert _macro(con, before, after) == expected


# --- whole runs: fast path, Python path and the tail give the rule's result ---------------------------------


def _event(n: int, before: str | None, after: str | None, action: str = "Update") -> str:
    """One raw line whose entity holds `before`/`after` as written (texts pasted in, not re-serialised)."""
    parts = "" if before is None else f',"before":{before}'
    parts += "" if after is None else f',"after":{after}'
    item = f'{{"entity":{{"id":"o-{n}","name":"Order"}}{parts}}}'
    line = json.dumps(make_event(n, action=action, entities=[{"entity": {"id": "PLACEHOLDER"}}]))
    return line.replace('{"entity": {"id": "PLACEHOLDER"}}', item)


def _stored_changes(data_dir: Path) -> dict[str, tuple[str | None, str | None, list[tuple[Any, ...]]]]:
    out = {}
    for path in (data_dir / layout.ANALYTICS_PREFIX).rglob("*.parquet"):
        for r in pq.read_table(path).to_pylist():
            entries = [(c["Field"], c["Before"], c["After"]) for c in r["Changes"]]
            out[r["Id"]] = (r["Before"], r["After"], entries)
    return out


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(pairs=st.lists(_pairs(), min_size=20, max_size=60))
def test_a_run_stores_the_rules_changes_on_both_paths(
    tmp_path_factory: pytest.TempPathFactory, pairs: list[tuple[str | None, str | None]]
) -> None:
    data_dir = tmp_path_factory.mktemp("run")
    write_raw(data_dir, ARRIVAL, [_event(i, b, a) for i, (b, a) in enumerate(pairs)])
    report = run_etl(data_dir, DAY)
    stored = _stored_changes(data_dir)
    assert report.rows_out == len(pairs) == len(stored)
    for before, after, got in stored.values():
        assert got == changes(before, after), (before, after)


def test_a_run_and_the_tail_store_the_changes_a_reader_expects(tmp_path: Path) -> None:
    lines = [_event(i, b, a) for i, (b, a, _) in enumerate(TRICKY)]
    write_raw(tmp_path, ARRIVAL, lines[:1], name="a.gz")
    run_etl(tmp_path, DAY)
    write_raw(tmp_path, ARRIVAL, lines[1:], name="b.gz")  # waiting: served by the tail
    tail = {r["Id"]: r["Changes"] for r in tail_table(tmp_path, DAY).to_pylist()}
    run_etl(tmp_path, DAY)
    stored = _stored_changes(tmp_path)
    for i, (_, _, expected) in enumerate(TRICKY):
        assert stored[f"ev-{i}:0"][2] == expected, TRICKY[i]
        if i:
            assert [(c["Field"], c["Before"], c["After"]) for c in tail[f"ev-{i}:0"]] == expected


def test_files_written_before_the_column_are_read_with_changes_null(tmp_path: Path) -> None:
    from audit_query import AuditLogClient, AuditLogQuery
    from audit_query.backends.duckdb import DuckDBBackend
    from audit_query.settings import QuerySettings

    write_raw(tmp_path, ARRIVAL, [_event(1, '{"s":"a"}', '{"s":"b"}')], name="a.gz")
    write_raw(tmp_path, datetime(2026, 11, 28, 1), [_event(2, '{"s":"b"}', '{"s":"c"}')], name="b.gz")
    run_etl(tmp_path, DAY)
    run_etl(tmp_path, date(2026, 11, 28))
    (old,) = (tmp_path / layout.ANALYTICS_PREFIX).glob("dt=*/source=*/run-20261127.parquet")
    pq.write_table(pq.read_table(old).drop_columns(["Changes"]), old)  # as the ETL wrote it before
    client = AuditLogClient(DuckDBBackend(tmp_path), QuerySettings(cursor_secret=b"test-secret"))
    page = client.query(AuditLogQuery(DAY, DAY, ("shop.orders",)))
    assert {r.Id: r.Changes for r in page.rows} == {"ev-1:0": None, "ev-2:0": (("s", '"b"', '"c"'),)}
