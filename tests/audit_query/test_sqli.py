"""Hostile input in every string filter: the Athena SQL parses as ONE SELECT whose string literals carry the
input unchanged, DuckDB returns only rows whose column equals it, and rejected input is a validation error."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from audit_query import AuditLogClient, AuditLogQuery, QueryValidationError
from audit_query import sql as b
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.formatter import qualified_table, typed_json_texts
from tests.sqli import sqli_lines

from .conftest import HOSTILE_DAY, HOSTILE_SOURCE, SETTINGS, is_acceptable, make_row, write_rows

LINES = sqli_lines()
ACCEPTED = [v for v in LINES if is_acceptable(v)]
SCALAR = {"actor_name": "ActorName", "entity_id": "EntityId", "correlation_id": "CorrelationId"}
LISTS = {"entity_types": "EntityType", "channel_codes": "ChannelCode"}
TABLE = qualified_table("auditlog", "auditlog")


def query_with(field: str, value: str) -> AuditLogQuery:
    v: object = (value,) if field in LISTS else value
    return AuditLogQuery(HOSTILE_DAY, HOSTILE_DAY, (HOSTILE_SOURCE,), **{field: v})


def assert_one_select_with(text: str, value: str) -> None:
    trees = sqlglot.parse(text, read="athena")
    assert len(trees) == 1 and isinstance(trees[0], exp.Select), text
    strings = [lit.this for lit in trees[0].find_all(exp.Literal) if lit.is_string]
    assert value in strings, (value, strings)


def test_the_lists_are_there_and_mostly_acceptable() -> None:
    assert len(LINES) > 300 and len(ACCEPTED) > 300


@pytest.mark.parametrize("field", [*SCALAR, *LISTS])
def test_athena_sql_keeps_every_hostile_line_inside_one_literal(field: str) -> None:
    for value in ACCEPTED:
        q = query_with(field, value).validate(SETTINGS)
        assert_one_select_with(b.build_page_sql(q, dialect="athena", table_ref=TABLE), value)
        assert_one_select_with(b.build_count_sql(q, dialect="athena", table_ref=TABLE), value)


def test_athena_sql_keeps_hostile_entity_ids_with_children() -> None:
    for value in ACCEPTED:
        q = AuditLogQuery(HOSTILE_DAY, HOSTILE_DAY, (HOSTILE_SOURCE,), entity_id=value, include_children=True)
        assert_one_select_with(b.build_history_sql(q, dialect="athena", table_ref=TABLE, limit=5), value)


@pytest.mark.parametrize(("field", "column"), SCALAR.items())
def test_duckdb_returns_exactly_the_rows_equal_to_each_hostile_line(
    client: AuditLogClient, rows: list[dict], field: str, column: str
) -> None:
    for value in ACCEPTED:
        expected = sorted(r["Id"] for r in rows if r[column] == value and r["source"] == HOSTILE_SOURCE)
        page = client.query(query_with(field, value))
        assert expected, value  # the fixture holds a match for every line
        assert sorted(r.Id for r in page.rows) == expected, value
        assert all(getattr(r, column) == value for r in page.rows)


@pytest.mark.parametrize(("field", "column"), LISTS.items())
def test_duckdb_list_filters_match_hostile_values_literally(
    client: AuditLogClient, rows: list[dict], field: str, column: str
) -> None:
    for start in range(0, len(ACCEPTED), 100):
        chunk = tuple(ACCEPTED[start : start + 100])
        q = AuditLogQuery(HOSTILE_DAY, HOSTILE_DAY, (HOSTILE_SOURCE,), limit=1000, **{field: chunk})
        got = sorted(r.Id for r in client.query(q).rows)
        assert got == sorted(r["Id"] for r in rows if r[column] in chunk and r["source"] == HOSTILE_SOURCE)


def test_hostile_entity_history_returns_the_entity_and_its_child(client: AuditLogClient) -> None:
    for value in ACCEPTED[::7]:
        history = client.history(value, date_from=HOSTILE_DAY, date_to=HOSTILE_DAY, sources=[HOSTILE_SOURCE])
        assert len(history) == 2 and {history[0].EntityId, history[0].EntityParentId} >= {value}
        assert all(value in (r.EntityId, r.EntityParentId) for r in history)


@pytest.mark.parametrize("value", [v for v in LINES if v != v.lower() or not v.isalnum()][:60])
def test_hostile_sources_are_rejected_before_any_sql(client: AuditLogClient, value: str) -> None:
    with pytest.raises(QueryValidationError) as info:
        client.query(AuditLogQuery(HOSTILE_DAY, HOSTILE_DAY, (value,)))
    assert info.value.field == "sources"


text_filters = st.sampled_from([*SCALAR, *LISTS])
hostile_text = st.text(
    st.one_of(st.sampled_from(list("'\"\\;-/*%_\x00\n\r\t`$")), st.characters(blacklist_categories=("Cs",))),
    min_size=1,
    max_size=300,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=text_filters, value=hostile_text)
def test_any_text_is_either_matched_literally_or_rejected(
    client: AuditLogClient, field: str, value: str
) -> None:
    column = {**SCALAR, **LISTS}[field]
    try:
        q = query_with(field, value).validate(SETTINGS)
    except QueryValidationError as exc:
        assert exc.field == field and exc.rule in ("control_characters", "max_length")
        assert not is_acceptable(value)
        with pytest.raises(QueryValidationError):
            client.query(query_with(field, value))
        return
    assert is_acceptable(value)
    assert_one_select_with(b.build_page_sql(q, dialect="athena", table_ref=TABLE), value)
    page = client.query(q)
    assert all(getattr(r, column) == value for r in page.rows)


def test_nul_and_overlong_are_validation_errors_not_engine_errors(client: AuditLogClient) -> None:
    for field in [*SCALAR, *LISTS]:
        for value, rule in (("x\x00' OR 1=1", "control_characters"), ("'" * 257, "max_length")):
            with pytest.raises(QueryValidationError) as info:
                client.query(query_with(field, value))
            assert (info.value.field, info.value.rule) == (field, rule)
    with pytest.raises(QueryValidationError):
        client.history("a\x00", date_from=date(2026, 11, 25), date_to=date(2026, 11, 25))


# -- changed-field filters (issue 13): a field name and typed from/to values, each a new literal path ------

CHANGED_DAY = HOSTILE_DAY


@pytest.fixture(scope="module")
def changed_client(tmp_path_factory: pytest.TempPathFactory):
    """A client over rows whose one Changes entry carries a hostile line as field name and, as JSON text,
    before and after value; each with a decoy whose entry is the line with an "x" appended."""
    folder = tmp_path_factory.mktemp("sqli-changed")
    rows = []
    base = datetime(CHANGED_DAY.year, CHANGED_DAY.month, CHANGED_DAY.day, 8)
    for n, line in enumerate(ACCEPTED):
        for k, text in enumerate((line, line + "x")):
            value = json.dumps(text, ensure_ascii=False)
            change = {"Field": text, "Before": value, "After": value}
            ts = base + timedelta(seconds=n)
            rows.append(make_row(f"c{n:04d}:{k}", ts, HOSTILE_SOURCE, Changes=[change]))
    write_rows(folder, rows)
    backend = DuckDBBackend(folder)
    yield AuditLogClient(backend, SETTINGS)
    backend.close()


def changed_query(value: str, **extra: object) -> AuditLogQuery:
    return AuditLogQuery(
        CHANGED_DAY, CHANGED_DAY, (HOSTILE_SOURCE,), changed_fields=(value,), changed_from=value,
        changed_to=value, **extra,
    )


def assert_one_select_with_all(text: str, values: list[str]) -> None:
    trees = sqlglot.parse(text, read="athena")
    assert len(trees) == 1 and isinstance(trees[0], exp.Select), text
    strings = [lit.this for lit in trees[0].find_all(exp.Literal) if lit.is_string]
    assert set(values) <= set(strings), (values, strings)


def test_athena_sql_keeps_hostile_changed_fields_and_values_inside_literals() -> None:
    for value in ACCEPTED:
        q = changed_query(value).validate(SETTINGS)
        wanted = [value, *typed_json_texts(value)]
        assert_one_select_with_all(b.build_page_sql(q, dialect="athena", table_ref=TABLE), wanted)
        assert_one_select_with_all(b.build_count_sql(q, dialect="athena", table_ref=TABLE), wanted)


def test_duckdb_changed_filters_match_each_hostile_line_literally(changed_client: AuditLogClient) -> None:
    for n, value in enumerate(ACCEPTED):
        page = changed_client.query(changed_query(value))
        assert [r.Id for r in page.rows] == [f"c{n:04d}:0"], value
        fields_only = AuditLogQuery(CHANGED_DAY, CHANGED_DAY, (HOSTILE_SOURCE,), changed_fields=(value,))
        assert [r.Id for r in changed_client.query(fields_only).rows] == [f"c{n:04d}:0"], value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=hostile_text, part=st.sampled_from(["changed_fields", "changed_from", "changed_to"]))
def test_any_changed_text_is_matched_literally_or_rejected(
    changed_client: AuditLogClient, value: str, part: str
) -> None:
    q = replace(changed_query("f"), **{part: (value,) if part == "changed_fields" else value})
    try:
        q.validate(SETTINGS)
    except QueryValidationError as exc:
        assert exc.field == part and exc.rule in ("control_characters", "max_length")
        assert not is_acceptable(value)
        return
    assert is_acceptable(value)
    wanted = [value] if part == "changed_fields" else list(typed_json_texts(value))
    assert_one_select_with_all(b.build_page_sql(q, dialect="athena", table_ref=TABLE), wanted)
    for r in changed_client.query(q).rows:  # only an entry equal to what was typed can match
        assert any(
            f in q.changed_fields and b_ in typed_json_texts(q.changed_from or "")
            and a in typed_json_texts(q.changed_to or "") for f, b_, a in r.Changes or ()
        )
