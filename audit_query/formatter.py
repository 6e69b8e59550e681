"""The one place a value becomes SQL text: `literal()` for values, `identifier()` for column names.

Athena (Trino) has no bind parameters for LIMIT or identifiers and pyathena's own parameters are client-side
formatting, so escaping is the mechanism; this module owns it and is tested string-in/string-out.

Facts this relies on (checked, see tests/audit_query/test_formatter.py): in both Trino (grammar rule
`STRING: '\\'' ( ~'\\'' | '\\'\\'' )* '\\''`) and DuckDB a standard string literal ends only at a single quote
that is not doubled; backslash is an ordinary character (DuckDB needs an E'' prefix for escapes, Trino
has none). Control characters are refused rather than encoded: no filter value needs them.

>>> literal("O'Brien", "athena")
"'O''Brien'"
>>> literal("C:\\\\temp\\\\", "duckdb")
"'C:\\\\temp\\\\'"
>>> literal(42, "duckdb"), literal(True, "athena"), literal(None, "duckdb")
('42', 'TRUE', 'NULL')
>>> from datetime import date, datetime
>>> literal(date(2026, 11, 27), "athena")
"DATE '2026-11-27'"
>>> literal(datetime(2026, 11, 27, 5, 59, 1, 123456), "duckdb")
"TIMESTAMP '2026-11-27 05:59:01.123'"
>>> identifier("EntityId")
'"EntityId"'
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, date, datetime
from enum import Enum

from etl import schema

DIALECTS = ("duckdb", "athena")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,127}\Z")


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; use one of: {', '.join(DIALECTS)}")


def string_literal(value: str) -> str:
    """Quote text as a standard SQL string: quotes doubled, control characters refused (ValueError).

    >>> string_literal("it's \\\\ fine")
    "'it''s \\\\ fine'"
    >>> string_literal("a\\x00")
    Traceback (most recent call last):
    ...
    ValueError: text contains control character U+0000 at position 1; SQL literals may not contain it
    """
    for i, ch in enumerate(value):
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise ValueError(
                f"text contains control character U+{ord(ch):04X} at position {i}; "
                "SQL literals may not contain it"
            )
    return "'" + value.replace("'", "''") + "'"


def timestamp_text(value: datetime) -> str:
    """A datetime as 'YYYY-MM-DD HH:MM:SS.fff' in UTC (naive values are taken as UTC), milliseconds.

    >>> from datetime import timedelta, timezone
    >>> timestamp_text(datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))))
    '2026-01-01 00:00:00.000'
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def literal(value: object, dialect: str) -> str:
    """SQL literal for str, int, bool, date, datetime or None in `dialect` ("duckdb" or "athena").

    Enum members become their value's literal. Any other type raises TypeError (no silent str()).
    """
    _check_dialect(dialect)
    if value is None:
        return "NULL"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{timestamp_text(value)}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    raise TypeError(f"no SQL literal for {type(value).__name__}; pass str, int, bool, date, datetime or None")


LIKE_ESCAPE = "\\"


def like_text(value: str) -> str:
    r"""`value` with LIKE's wildcards `%`, `_` and the escape character itself escaped (by LIKE_ESCAPE).

    >>> print(like_text("50%_off\\"))
    50\%\_off\\
    """
    e = LIKE_ESCAPE
    return value.replace(e, e + e).replace("%", e + "%").replace("_", e + "_")


def contains_pattern(value: str, dialect: str) -> str:
    r"""`LIKE '%value%' ESCAPE '\'` matching text that contains `value` in any case: compare it with the
    lower-cased column (`lower(col) LIKE ...`). The one path a contains filter's text takes into SQL.

    >>> print(contains_pattern("O'Brien_1", "athena"))
    LIKE '%o''brien\_1%' ESCAPE '\'
    """
    _check_dialect(dialect)
    pattern = string_literal("%" + like_text(value.lower()) + "%")
    return f"LIKE {pattern} ESCAPE {string_literal(LIKE_ESCAPE)}"


_JSON_SPACE = " \t\n\r"


def json_minified(text: str) -> str:
    """JSON text without the whitespace between its tokens (inside strings it is kept), as the ETL stores
    Before/After and their Changes values. Only for text `json.loads` accepted.

    >>> print(json_minified(' { "a b" : [1, 2] } '))
    {"a b":[1,2]}
    """
    out: list[str] = []
    in_string = escaped = False
    for ch in text:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch not in _JSON_SPACE:
            out.append(ch)
            in_string = ch == '"'
    return "".join(out)


def typed_json_texts(value: str) -> tuple[str, ...]:
    """The stored JSON texts (a Changes entry's Before or After) that `value`, typed as a person reads it,
    matches: `value` itself when it is JSON (minified: `5`, `true`, `null`, `"x"`, `{"a":1}`), and `value`
    as a JSON string (`Cancelled` is `"Cancelled"`, `5` is also `"5"`), non-ASCII as typed and \\u-escaped.

    >>> typed_json_texts("Cancelled"), typed_json_texts("5"), typed_json_texts("null")
    (('"Cancelled"',), ('5', '"5"'), ('null', '"null"'))
    >>> print(*typed_json_texts('Köln "Süd"'))
    "Köln \\"Süd\\"" "K\\u00f6ln \\"S\\u00fcd\\""
    """
    texts: list[str] = []
    try:
        json.loads(value)
    except ValueError:
        pass
    else:
        texts.append(json_minified(value))
    texts.append(json.dumps(value, ensure_ascii=False))
    texts.append(json.dumps(value, ensure_ascii=True))
    return tuple(dict.fromkeys(texts))


def json_value_in(value: str, dialect: str, *, any_case: bool = False) -> str:
    """`IN (...)` of the SQL string literals of `typed_json_texts(value)`: the one path a changed-from or
    changed-to value takes into SQL. With `any_case` each literal is wrapped in `lower()`, for a condition
    on `lower(<stored text>)`: the value matches whatever its letters' case (`Cancelled` finds "cancelled");
    the engine lowers both sides, so Python's and the engine's case rules never have to agree.

    >>> print(json_value_in("it's 5", "athena"))
    IN ('"it''s 5"')
    >>> print(json_value_in("Paid", "duckdb", any_case=True))
    IN (lower('"Paid"'))
    """
    _check_dialect(dialect)
    texts = (string_literal(t) for t in typed_json_texts(value))
    return "IN (" + ", ".join(f"lower({t})" if any_case else t for t in texts) + ")"


def identifier(name: str) -> str:
    """A column name quoted for SQL; only names from the table schema (etl.schema) are accepted.

    >>> identifier("Id; DROP TABLE x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'Id; DROP TABLE x' is not a column of the audit table; allowed: Id, EventId, ...
    """
    if name not in schema.ALL_COLUMN_NAMES:
        allowed = ", ".join(schema.ALL_COLUMN_NAMES)
        raise ValueError(f"{name!r} is not a column of the audit table; allowed: {allowed}")
    return '"' + name + '"'


def qualified_table(database: str, table: str) -> str:
    """The quoted Athena table name `"database"."table"`; names must be lower-case Glue names.

    >>> qualified_table("auditlog", "auditlog")
    '"auditlog"."auditlog"'
    """
    for what, name in (("database", database), ("table", table)):
        if not _NAME.match(name):
            raise ValueError(
                f"Athena {what} name {name!r} must be lower-case letters, digits and '_' (at most 128)"
            )
    return f'"{database}"."{table}"'
