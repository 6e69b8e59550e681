"""Hostile input in every string filter: the Athena SQL parses as ONE SELECT whose string literals carry the
input unchanged, DuckDB returns only rows whose column equals it, and rejected input is a validation error."""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from audit_query import AuditLogClient, AuditLogQuery, QueryValidationError
from audit_query import sql as b
from audit_query.formatter import qualified_table
from tests.sqli import sqli_lines

from .conftest import HOSTILE_DAY, HOSTILE_SOURCE, SETTINGS, is_acceptable

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
