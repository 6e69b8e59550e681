"""formatter.literal / identifier: string-in/string-out, and what both engines read back from the literal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import duckdb
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from audit_query.formatter import (
    identifier,
    json_minified,
    json_value_in,
    literal,
    qualified_table,
    typed_json_texts,
)
from etl import schema

# text the formatter must accept: anything without control characters (Cc) or surrogates (Cs)
safe_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=60)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "'plain'"),
        ("O'Brien", "'O''Brien'"),
        ("''", "''''''"),
        ("back\\slash\\", "'back\\slash\\'"),
        ("' OR '1'='1", "''' OR ''1''=''1'"),
        ("注文 ü", "'注文 ü'"),
        (7, "7"),
        (-1, "-1"),
        (False, "FALSE"),
        (None, "NULL"),
        (date(2026, 1, 2), "DATE '2026-01-02'"),
        (datetime(2026, 1, 2, 3, 4, 5, 678999), "TIMESTAMP '2026-01-02 03:04:05.678'"),
        (
            datetime(2026, 1, 2, 3, 0, tzinfo=timezone(timedelta(hours=-2))),
            "TIMESTAMP '2026-01-02 05:00:00.000'",
        ),
    ],
)
@pytest.mark.parametrize("dialect", ["duckdb", "athena"])
def test_literal_text(value: object, expected: str, dialect: str) -> None:
    assert literal(value, dialect) == expected


@pytest.mark.parametrize("bad", ["\x00", "a\nb", "tab\there", "\x1b[0m", "\x85", "\r"])
def test_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        literal(bad, "athena")


def test_unsupported_types_and_dialects_are_refused() -> None:
    with pytest.raises(TypeError):
        literal(1.5, "duckdb")
    with pytest.raises(TypeError):
        literal(b"bytes", "duckdb")
    with pytest.raises(ValueError, match="dialect"):
        literal("x", "mysql")


def test_identifier_allows_only_schema_columns() -> None:
    assert [identifier(n) for n in schema.ALL_COLUMN_NAMES] == [f'"{n}"' for n in schema.ALL_COLUMN_NAMES]
    for bad in ['Id"; DROP TABLE x; --', "id", "EntityId ", "count"]:
        with pytest.raises(ValueError, match="not a column"):
            identifier(bad)


def test_qualified_table_checks_glue_names() -> None:
    assert qualified_table("audit_db", "auditlog") == '"audit_db"."auditlog"'
    with pytest.raises(ValueError):
        qualified_table('x"."y', "auditlog")


@given(safe_text)
def test_duckdb_reads_back_exactly_the_text(value: str) -> None:
    # backslash is literal in DuckDB standard strings: the engine returns the input unchanged
    assert duckdb.sql(f"SELECT {literal(value, 'duckdb')} AS v").fetchall() == [(value,)]


@given(safe_text)
def test_athena_literal_parses_to_exactly_the_text(value: str) -> None:
    # sqlglot's athena dialect uses Trino's tokenizer for queries, where backslash is an ordinary character
    tree = sqlglot.parse_one(f"SELECT {literal(value, 'athena')} AS v", read="athena")
    (lit,) = list(tree.find_all(exp.Literal))
    assert lit.is_string and lit.this == value


def test_backslash_quote_cannot_end_the_literal() -> None:
    text = literal("\\' OR 1=1 --", "athena")
    assert text == "'\\'' OR 1=1 --'"
    tree = sqlglot.parse_one(f"SELECT 1 WHERE x = {text}", read="athena")
    assert [lit.this for lit in tree.find_all(exp.Literal) if lit.is_string] == ["\\' OR 1=1 --"]
    assert duckdb.sql(f"SELECT {literal(chr(92) + chr(39), 'duckdb')}").fetchall() == [("\\'",)]


def test_timestamp_literal_round_trips_in_duckdb() -> None:
    ts = datetime(2026, 11, 26, 23, 59, 59, 999000, tzinfo=UTC)
    assert duckdb.sql(f"SELECT {literal(ts, 'duckdb')}").fetchall() == [(ts.replace(tzinfo=None),)]


@pytest.mark.parametrize(
    ("typed", "texts"),
    [
        ("Cancelled", ('"Cancelled"',)),
        ("5", ("5", '"5"')),
        ("5.0", ("5.0", '"5.0"')),
        ("true", ("true", '"true"')),
        ("null", ("null", '"null"')),
        ('"quoted"', ('"quoted"', '"\\"quoted\\""')),
        ('{ "a" : [1, 2] }', ('{"a":[1,2]}', '"{ \\"a\\" : [1, 2] }"')),
        ("O'Brien \\ x", ('"O\'Brien \\\\ x"',)),
        ("Köln", ('"Köln"', '"K\\u00f6ln"')),
        ("in progress", ('"in progress"',)),
    ],
)
def test_typed_json_texts(typed: str, texts: tuple[str, ...]) -> None:
    assert typed_json_texts(typed) == texts


def test_json_minified_keeps_whitespace_and_escapes_inside_strings() -> None:
    assert json_minified('{ "a \\" b" : "x\\\\" , "c": [ 1 ,2 ] }') == '{"a \\" b":"x\\\\","c":[1,2]}'
    assert json_minified("\t5\n") == "5"


def test_json_value_in_is_string_literals_only() -> None:
    assert json_value_in("5", "duckdb") == "IN ('5', '\"5\"')"
    assert json_value_in("x' OR '1'='1", "athena") == "IN ('\"x'' OR ''1''=''1\"')"
    assert json_value_in("a\x00", "athena") == "IN ('\"a\\u0000\"')"  # JSON escapes it: no raw NUL


@given(safe_text)
def test_json_value_in_parses_to_exactly_the_typed_texts(value: str) -> None:
    tree = sqlglot.parse_one(f"SELECT 1 WHERE x {json_value_in(value, 'athena')}", read="athena")
    assert [lit.this for lit in tree.find_all(exp.Literal) if lit.is_string] == list(typed_json_texts(value))
    got = duckdb.sql(f"SELECT [{json_value_in(value, 'duckdb')[4:-1]}]").fetchall()[0][0]
    assert got == list(typed_json_texts(value))
