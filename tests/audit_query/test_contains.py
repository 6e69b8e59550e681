"""Partial, case-insensitive names (issue 13 item 4): `actor_contains` and `entity_name_contains` match
any part of the name in any case, and their text reaches SQL only through the formatter's LIKE escaping:
the shared hostile lists, hypothesis and sqlglot (the independent parser) on the Athena text, and DuckDB's
answers checked against a Python oracle over the same rows."""

from __future__ import annotations

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from audit_query import AuditLogClient, AuditLogQuery, QueryValidationError
from audit_query import sql as b
from audit_query.formatter import contains_pattern, like_text, qualified_table
from tests.sqli import sqli_lines

from .conftest import DAYS, HOSTILE_DAY, HOSTILE_SOURCE, SETTINGS, is_acceptable

CONTAINS = {"actor_contains": "ActorName", "entity_name_contains": "EntityName"}
ACCEPTED = [v for v in sqli_lines() if is_acceptable(v)]
TABLE = qualified_table("auditlog", "auditlog")


def hostile(field: str, value: str, **more: object) -> AuditLogQuery:
    return AuditLogQuery(HOSTILE_DAY, HOSTILE_DAY, (HOSTILE_SOURCE,), **{field: value}, **more)


def expected_ids(rows: list[dict], column: str, value: str, source: str = HOSTILE_SOURCE) -> list[str]:
    """The oracle: rows of `source` whose column holds `value`, compared in lower case (Python, no SQL)."""
    return sorted(
        r["Id"] for r in rows if r["source"] == source and value.lower() in (r.get(column) or "").lower()
    )


def like_pattern_of(text: str) -> str:
    """The string literal after LIKE in the one SELECT sqlglot parses `text` into."""
    trees = sqlglot.parse(text, read="athena")
    assert len(trees) == 1 and isinstance(trees[0], exp.Select), text
    likes = list(trees[0].find_all(exp.Like))
    assert likes, text
    pattern = likes[0].expression
    if isinstance(pattern, exp.Escape):  # sqlglot wraps `x ESCAPE e`
        pattern = pattern.this
    assert isinstance(pattern, exp.Literal) and pattern.is_string, text
    return str(pattern.this)


def test_like_wildcards_and_the_escape_character_are_escaped() -> None:
    assert like_text(r"50%_off\x") == r"50\%\_off\\x"
    assert contains_pattern("A%", "duckdb") == r"LIKE '%a\%%' ESCAPE '\'"


@pytest.mark.parametrize("field", CONTAINS)
def test_athena_sql_keeps_every_hostile_line_inside_the_like_literal(field: str) -> None:
    for value in ACCEPTED:
        q = hostile(field, value).validate(SETTINGS)
        for text in (
            b.build_page_sql(q, dialect="athena", table_ref=TABLE),
            b.build_count_sql(q, dialect="athena", table_ref=TABLE),
        ):
            assert like_pattern_of(text) == "%" + like_text(value.lower()) + "%", value


@pytest.mark.parametrize(("field", "column"), CONTAINS.items())
def test_duckdb_counts_exactly_the_rows_containing_each_hostile_line(
    client: AuditLogClient, rows: list[dict], field: str, column: str
) -> None:
    for value in ACCEPTED[::3]:
        expected = expected_ids(rows, column, value)
        assert expected, value  # the row holding the line itself, at least
        assert client.count(hostile(field, value)) == len(expected), value
    for value in ("%", "_", "\\", "%_%", "a_b"):  # wildcards match themselves only
        assert client.count(hostile(field, value)) == len(expected_ids(rows, column, value)), value


@pytest.mark.parametrize("typed", ["alice", "ALICE", "Ali", "lIC"])
def test_everything_alice_did_typed_as_a_person_would(
    client: AuditLogClient, rows: list[dict], typed: str
) -> None:
    q = AuditLogQuery(DAYS[0], DAYS[-1], ("shop.orders",), actor_contains=typed, limit=1000)
    q = q.validate(SETTINGS)
    got = sorted(r.Id for r in client.query(q).rows)
    assert got == expected_ids(rows, "ActorName", typed, "shop.orders")
    assert got, "the fixture has alice rows"


hostile_text = st.text(
    st.one_of(st.sampled_from(list("'\"\\;-/*%_\x00\n\r\t`$")), st.characters(blacklist_categories=("Cs",))),
    min_size=1,
    max_size=300,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(list(CONTAINS)), value=hostile_text)
def test_any_contains_text_is_matched_literally_or_rejected(
    client: AuditLogClient, rows: list[dict], field: str, value: str
) -> None:
    try:
        q = hostile(field, value).validate(SETTINGS)
    except QueryValidationError as exc:
        assert exc.field == field and exc.rule in ("control_characters", "max_length")
        assert not is_acceptable(value)
        return
    assert like_pattern_of(b.build_page_sql(q, dialect="athena", table_ref=TABLE)) == (
        "%" + like_text(value.lower()) + "%"
    )
    assert client.count(q) == len(expected_ids(rows, CONTAINS[field], value))
