"""The SQL builder: one set of functions, two dialects ("duckdb", "athena"). Builds text, runs nothing.

Every value goes through `formatter.literal`, every column through `formatter.identifier`; the table
reference comes from the backend. Rules (DESIGN §4-§5):
- `dt` is compared as a string ('YYYY-MM-DD' literals, BETWEEN): Athena's date projection and DuckDB's
  hive partitions (read as VARCHAR) both prune partitions on it.
- `source` is always a literal equality or IN list: Athena's injected projection requires it.
- Keyset pagination on (Timestamp, Id), DESC for newest first (the default) or ASC for oldest first: "next"
  reads rows after the cursor in that order, "prev" reverses the comparison and the order (the client flips
  the rows back); `limit + 1` rows say whether there is more.
- An entity with its children is a UNION ALL of `EntityId = x` and `EntityParentId = x AND EntityId <> x`:
  each branch is a plain conjunction, so DuckDB pushes the equality into the Parquet scan as a table filter
  (row-group min/max pruning) and Athena into its reader, where `EntityId = x OR EntityParentId = x` stays
  a post-scan filter in DuckDB (checked with EXPLAIN in tests/audit_query/test_sql_duckdb.py).

>>> from datetime import date
>>> from audit_query.model import AuditLogQuery
>>> q = AuditLogQuery(date(2026, 11, 26), date(2026, 11, 26), ("shop.orders",), actor_name="o'brien")
>>> print(build_where(q, dialect="athena"))
"dt" BETWEEN '2026-11-26' AND '2026-11-26'
  AND "source" = 'shop.orders'
  AND "ActorName" = 'o''brien'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from etl import schema

from . import filters as _filters
from .cursor import Keyset
from .formatter import _check_dialect, contains_pattern, identifier, json_value_in, literal
from .model import GROUP_BY_COLUMNS, AuditLogQuery

_ALIAS = "u"
_KEYS = "k"
_PAGE_KEY = ("Timestamp", "Id", "dt", "source")  # identifies a row; the page's join key


def _in(column: str, values: Sequence[object], dialect: str) -> str:
    col = identifier(column)
    if len(values) == 1:
        return f"{col} = {literal(values[0], dialect)}"
    return f"{col} IN ({', '.join(literal(v, dialect) for v in values)})"


def select_list() -> str:
    """Every column of the table (schema order, then the partitions), quoted."""
    return ", ".join(identifier(name) for name in schema.ALL_COLUMN_NAMES)


def _conditions(query: AuditLogQuery, dialect: str) -> list[str]:
    """The filter conditions shared by every statement (one per set row of the filter table), entity id
    excluded: the dates and sources first (partition pruning), then the table's rows in order."""
    conds = [
        f"{identifier('dt')} BETWEEN {literal(query.date_from.isoformat(), dialect)}"
        f" AND {literal(query.date_to.isoformat(), dialect)}",
        _in("source", sorted(query.sources), dialect),
    ]
    if query.time_from is not None:  # time of day within the dates: the dt range above still prunes
        conds.append(f"{identifier('Timestamp')} >= {literal(query.time_from, dialect)}")
    if query.time_to is not None:  # inclusive to the second: everything before the next second
        conds.append(f"{identifier('Timestamp')} < {literal(query.time_to + timedelta(seconds=1), dialect)}")
    for f in _filters.FILTERS:
        value = getattr(query, f.name)
        if f.column is None or f.name == "sources" or value in (None, ()):
            continue
        if f.kind == "set":
            conds.append(_in(f.column, [getattr(v, "value", v) for v in value], dialect))
        elif f.kind == "exact":
            conds.append(f"{identifier(f.column)} = {literal(value, dialect)}")
        elif f.kind == "contains":
            conds.append(f"lower({identifier(f.column)}) {contains_pattern(value, dialect)}")
        elif f.kind == "changed":  # the field rows and their from/to values make one condition
            if f.many:
                conds.append(changed_condition(query, dialect))
        else:  # a new kind must say how it becomes SQL here
            raise ValueError(f"filter {f.name!r}: no SQL for kind {f.kind!r}")
    return conds


#: A Changes entry's parts as each engine names them: DuckDB keeps the Parquet (Arrow) names, Athena's Hive
#: struct lower-cases them (etl.schema CHANGE_TYPE and the Athena DDL).
_CHANGE_PARTS = {
    "duckdb": {"Field": '"Field"', "Before": '"Before"', "After": '"After"'},
    "athena": {"Field": '"field"', "Before": '"before"', "After": '"after"'},
}
_ENTRY = "chg"  # the lambda's parameter: one Changes entry


def changed_condition(query: AuditLogQuery, dialect: str) -> str:
    r"""True for a row with one Changes entry whose Field is one of `query.changed_fields` and, when given,
    whose Before matches `changed_from` and After `changed_to` (typed as read: formatter.typed_json_texts;
    in any case of letters, `Cancelled` also finds "cancelled").
    A row of a file older than the column (Changes NULL) never matches. Athena's form (Trino's `filter`
    and `cardinality`) also runs on DuckDB with `lambda_syntax = 'ENABLE_SINGLE_ARROW'`, as the Athena
    backend's local merge of the not-yet-processed tail does.

    >>> from audit_query.model import AuditLogQuery
    >>> q = AuditLogQuery("2026-11-26", "2026-11-26", ("a",), changed_fields=("status",), changed_to="5")
    >>> print(changed_condition(q, "athena").replace(" AND ", "\n AND "))
    cardinality(filter("Changes", chg -> chg."field" = 'status'
     AND lower(chg."after") IN (lower('5'), lower('"5"')))) > 0
    >>> print(changed_condition(q, "duckdb").replace(" AND ", "\n AND "))
    len(list_filter("Changes", lambda chg: chg."Field" = 'status'
     AND lower(chg."After") IN (lower('5'), lower('"5"')))) > 0
    """
    _check_dialect(dialect)
    part = {name: f"{_ENTRY}.{quoted}" for name, quoted in _CHANGE_PARTS[dialect].items()}
    names = sorted(query.changed_fields)
    if len(names) == 1:
        conds = [f"{part['Field']} = {literal(names[0], dialect)}"]
    else:
        conds = [f"{part['Field']} IN ({', '.join(literal(n, dialect) for n in names)})"]
    if query.changed_from is not None:
        conds.append(f"lower({part['Before']}) {json_value_in(query.changed_from, dialect, any_case=True)}")
    if query.changed_to is not None:
        conds.append(f"lower({part['After']}) {json_value_in(query.changed_to, dialect, any_case=True)}")
    body = " AND ".join(conds)
    column = identifier("Changes")
    if dialect == "duckdb":
        return f"len(list_filter({column}, lambda {_ENTRY}: {body})) > 0"
    return f"cardinality(filter({column}, {_ENTRY} -> {body})) > 0"


def keyset_condition(position: Keyset, dialect: str, order: str = "newest") -> str:
    r"""Rows strictly after `position` in the direction it reads: in newest-first `order` older rows for
    "next" and newer for "prev"; in oldest-first order the other way round.

    >>> print(keyset_condition(Keyset(0, "a:0", "next"), "duckdb").replace(" OR ", "\n OR "))
    ("Timestamp" < TIMESTAMP '1970-01-01 00:00:00.000'
     OR ("Timestamp" = TIMESTAMP '1970-01-01 00:00:00.000' AND "Id" < 'a:0'))
    """
    ascending = (order == "oldest") != (position.direction == "prev")
    op = ">" if ascending else "<"
    ts = literal(position.timestamp(), dialect)
    t, i = identifier("Timestamp"), identifier("Id")
    return f"({t} {op} {ts} OR ({t} = {ts} AND {i} {op} {literal(position.id, dialect)}))"


def _branches(query: AuditLogQuery, dialect: str, extra: Sequence[str] = ()) -> list[list[str]]:
    """One condition list per UNION ALL branch (one branch unless children are included)."""
    base = _conditions(query, dialect) + list(extra)
    if query.entity_id is None:
        return [base]
    eid = literal(query.entity_id, dialect)
    own = base + [f"{identifier('EntityId')} = {eid}"]
    if not query.include_children:
        return [own]
    children = base + [f"{identifier('EntityParentId')} = {eid}", f"{identifier('EntityId')} <> {eid}"]
    return [own, children]


def build_where(query: AuditLogQuery, *, dialect: str) -> str:
    """The WHERE body for a query without children (one branch); for tests and for readers of the SQL."""
    _check_dialect(dialect)
    return "\n  AND ".join(_branches(query, dialect)[0])


def _source(
    query: AuditLogQuery, dialect: str, table_ref: str, columns: str, extra: Sequence[str] = ()
) -> str:
    """`SELECT columns FROM table WHERE ...`, or a parenthesised UNION ALL of the branches aliased u."""
    branches = _branches(query, dialect, extra)
    selects = [f"SELECT {columns}\nFROM {table_ref}\nWHERE " + "\n  AND ".join(conds) for conds in branches]
    if len(selects) == 1:
        return selects[0]
    return f"SELECT {columns}\nFROM (\n" + "\nUNION ALL\n".join(selects) + f"\n) AS {_ALIAS}"


def build_page_sql(
    query: AuditLogQuery, *, dialect: str, table_ref: str, position: Keyset | None = None
) -> str:
    """One page of rows: filters, the keyset condition when `position` is given, `limit + 1` rows.

    Rows come in `query.order` (newest first by default), except for a "prev" position where they come the
    other way round (flip them).
    Two phases in one statement: `k` takes the page's keys with a Top-N over four narrow columns, then
    the full rows of just those keys are joined in. DuckDB pushes the join's key range into the second
    scan, so whole rows are read only where the page lies (bench/RESULTS.md: the first page at 365 days
    went from 154 to 72 ms); Athena bills the Top-N's narrow columns rather than every column of the range.
    Both parts carry every filter, so Athena's injected `source` projection sees its literals in each.
    """
    _check_dialect(dialect)
    extra = [keyset_condition(position, dialect, query.order)] if position is not None else []
    backwards = position is not None and position.direction == "prev"
    order = "ASC" if (query.order == "oldest") != backwards else "DESC"
    t, i = identifier("Timestamp"), identifier("Id")
    n = literal(query.limit + 1, dialect)
    keys = _source(query, dialect, table_ref, ", ".join(identifier(c) for c in _PAGE_KEY), extra)
    rows = _source(query, dialect, table_ref, select_list(), extra)
    on = " AND ".join(f"r.{identifier(c)} = {_KEYS}.{identifier(c)}" for c in _PAGE_KEY)
    columns = ", ".join(f"r.{identifier(c)}" for c in schema.ALL_COLUMN_NAMES)
    # Values went through literal(), names through identifier(); DISTINCT keys make a row stored twice (a
    # re-delivery on another day) join once per copy, as a plain scan would return it.
    head = f"WITH {_KEYS} AS (\n{keys}\nORDER BY {t} {order}, {i} {order}\nLIMIT {n}\n)\n"
    body = f"SELECT {columns}\nFROM (\n{rows}\n) AS r\n"  # noqa: S608
    join = f"JOIN (SELECT DISTINCT * FROM {_KEYS}) AS {_KEYS} ON {on}\n"  # noqa: S608
    return head + body + join + f"ORDER BY r.{t} {order}, r.{i} {order}\nLIMIT {n}"


def build_count_sql(query: AuditLogQuery, *, dialect: str, table_ref: str) -> str:
    """The number of rows matching the filters (cursor and limit ignored), as column "count"."""
    _check_dialect(dialect)
    if query.entity_id is not None and query.include_children:
        body = _source(query, dialect, table_ref, select_list())
        return f'SELECT COUNT(*) AS "count"\nFROM (\n{body}\n) AS c'
    return _source(query, dialect, table_ref, 'COUNT(*) AS "count"')


def build_counts_sql(
    query: AuditLogQuery, group_by: str | Sequence[str], *, dialect: str, table_ref: str
) -> str:
    """Row counts per group ("day", "hour", "source", "action", "actor", "actor_type", "entity_type"; one or
    two), as columns "key" (and "key2") and "count": days and hours in time order, other groups
    largest first."""
    _check_dialect(dialect)
    groups = [group_by] if isinstance(group_by, str) else list(group_by)
    if not 1 <= len(groups) <= 2 or any(g not in GROUP_BY_COLUMNS for g in groups):
        raise ValueError(f"group_by must be one or two of: {', '.join(GROUP_BY_COLUMNS)}; got {group_by!r}")
    cols = [_group_expression(g) for g in groups]
    aliases = ['"key"', '"key2"'][: len(cols)]
    selected = ", ".join(f"{c} AS {a}" for c, a in zip(cols, aliases, strict=True))
    body = _source(query, dialect, table_ref, select_list())
    if groups[0] in ("day", "hour"):
        order = ", ".join(f"{a} ASC NULLS LAST" for a in aliases)
    else:
        order = '"count" DESC, ' + ", ".join(f"{a} ASC NULLS LAST" for a in aliases)
    return (
        f'SELECT {selected}, COUNT(*) AS "count"\nFROM (\n{body}\n) AS c\n'
        f"GROUP BY {', '.join(cols)}\nORDER BY {order}"
    )


def _group_expression(group: str) -> str:
    """The SQL a counts() group is keyed by: its column, or for "hour" the UTC hour as "YYYY-MM-DD HH:00"
    (the same text in both dialects: both print a truncated timestamp as "YYYY-MM-DD HH:MM:SS...")."""
    column = identifier(GROUP_BY_COLUMNS[group])
    if group == "hour":
        return f"substr(CAST(date_trunc('hour', {column}) AS VARCHAR), 1, 16)"
    return column


def _ordered(query: AuditLogQuery, dialect: str, table_ref: str, order: str, limit: int) -> str:
    body = _source(query, dialect, table_ref, select_list())
    t, i = identifier("Timestamp"), identifier("Id")
    return f"{body}\nORDER BY {t} {order}, {i} {order}\nLIMIT {literal(limit, dialect)}"


def build_history_sql(query: AuditLogQuery, *, dialect: str, table_ref: str, limit: int) -> str:
    """An entity's changes (and its children's when `include_children`), newest first, at most `limit`."""
    _check_dialect(dialect)
    if query.entity_id is None:
        raise ValueError("entity_id: required for an entity history")
    return _ordered(query, dialect, table_ref, "DESC", limit)


def build_correlation_sql(query: AuditLogQuery, *, dialect: str, table_ref: str, limit: int) -> str:
    """Every row of one correlation id across the query's sources, in time order, at most `limit`."""
    _check_dialect(dialect)
    if query.correlation_id is None:
        raise ValueError("correlation_id: required for a correlation lookup")
    return _ordered(query, dialect, table_ref, "ASC", limit)
