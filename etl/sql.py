"""The local ETL's SQL text (DuckDB), under public names: macros, the event-time parse, the acceptance rules
as SQL (generated from etl.rules), the column map (etl.schema), and the statements of each run step.

Only module constants and schema names go into this text: no value read from a raw object ever becomes SQL
(raw lines reach DuckDB as a registered Arrow table).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from etl.rules import ID_CONTROL_PATTERN, MAX_EVENT_TIME, MIN_EVENT_TIME, PARSED_REASONS, TIME_PATTERN
from etl.schema import ACTOR_TYPE_NAMES, COLUMN_NAMES, SOURCE_PATTERN

NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"
"""DuckDB's json_type names of a JSON number."""

STRUCT = {
    "id": "JSON",
    "time": "JSON",
    "source": "JSON",
    "detail-type": "VARCHAR",
    "detail": {
        "event_id": "JSON",
        "entity_type": "VARCHAR",
        "action": "VARCHAR",
        "correlation_id": "VARCHAR",
        "actor": {"type": "VARCHAR", "name": "VARCHAR"},
        "entities": [
            {
                "entity": {"id": "JSON", "name": "VARCHAR"},
                "parent": {"id": "VARCHAR", "name": "VARCHAR", "type": "VARCHAR"},
                "channel_code": "VARCHAR",
                "channel_account_code": "VARCHAR",
                "before": "JSON",
                "after": "JSON",
            }
        ],
    },
}

# `YYYY-MM-DDTHH:MM:SS.mmmZ`, what producers send: parsed by strptime and accepted only when it formats back
# to the same text (so it means exactly what etl.rules.parse_event_time reads); other shapes take the regex.
CANONICAL_TIME = "%Y-%m-%dT%H:%M:%S.%gZ"

MACROS = f"""
CREATE OR REPLACE MACRO jtext(x) AS
    CASE WHEN json_type(x) = 'VARCHAR' THEN json_extract_string(x, '$') ELSE x::VARCHAR END;
CREATE OR REPLACE MACRO nows(x) AS
    replace(replace(replace(replace(x, ' ', ''), chr(9), ''), chr(10), ''), chr(13), '');
CREATE OR REPLACE MACRO time_parts(t) AS regexp_extract(t, '{TIME_PATTERN}',
    ['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'z', 'sg', 'oh', 'om']);
CREATE OR REPLACE MACRO time_from_parts(m) AS
    CASE WHEN m.y >= '{MIN_EVENT_TIME.year - 1}' AND (m.z = 'Z' OR (m.oh::INT <= 23 AND m.om::INT <= 59)) THEN
        (try_strptime(m.y || '-' || m.mo || '-' || m.d || ' ' || m.h || ':' || m.mi || ':' || m.s,
                      '%Y-%m-%d %H:%M:%S')
         + to_milliseconds(CASE WHEN m.f = '' THEN 0 ELSE left(m.f || '00', 3)::INT END)
         - to_minutes(CASE m.sg WHEN '+' THEN 1 WHEN '-' THEN -1 ELSE 0 END
                      * (CASE WHEN m.z = 'Z' THEN 0 ELSE m.oh::INT * 60 + m.om::INT END)))::TIMESTAMP_MS
    END;
-- etl.rules.changes over a row's Before/After texts (btx, atx) and their member lists (CHANGE_LISTS:
-- keys kb/ka, member texts vb/va in object order). A key's value is its first member (list_position);
-- pairs are structs (k, i, b, a), b/a NULL where the key is absent. Lambda parameter names differ across
-- the macros (a macro argument is pasted into the body, so a shared name would capture it).
CREATE OR REPLACE MACRO change_pairs(uk, kb, vb, ka, va) AS list_filter(list_transform(uk, lambda k_, i_:
        {{'k': k_, 'i': i_, 'b': vb[list_position(kb, k_)], 'a': va[list_position(ka, k_)]}}),
    lambda p_: p_.b IS DISTINCT FROM p_.a AND list_position(uk, p_.k) = p_.i);
CREATE OR REPLACE MACRO same_key_pairs(kb, vb, va) AS list_transform(list_filter(list_zip(kb, vb, va),
        lambda z_, i_: z_[2] <> z_[3] AND list_position(kb, z_[1]) = i_),
    lambda z_: {{'k': z_[1], 'i': 0, 'b': z_[2], 'a': z_[3]}});
CREATE OR REPLACE MACRO change_sub(k, b, a) AS list_transform(change_pairs(
        json_keys(b) || json_keys(a), json_keys(b), json_extract(b, '$.*')::VARCHAR[],
        json_keys(a), json_extract(a, '$.*')::VARCHAR[]),
    lambda q_: {{'Field': k || '.' || q_.k, 'Before': q_.b, 'After': q_.a}});
CREATE OR REPLACE MACRO expand_pairs(pairs) AS flatten(list_transform(pairs, lambda o_:
        CASE WHEN o_.b[1] = '{{' AND o_.a[1] = '{{' THEN change_sub(o_.k, o_.b, o_.a)
             ELSE [{{'Field': o_.k, 'Before': o_.b, 'After': o_.a}}] END));
CREATE OR REPLACE MACRO field_changes(btx, atx, kb, vb, ka, va) AS CASE
    WHEN btx IS NULL AND atx IS NULL THEN []
    WHEN coalesce(btx[1] <> '{{', false) OR coalesce(atx[1] <> '{{', false) THEN
        CASE WHEN btx IS NOT DISTINCT FROM atx THEN [] ELSE [{{'Field': '', 'Before': btx, 'After': atx}}] END
    WHEN btx IS NULL THEN list_sort(list_transform(
        list_filter(list_zip(ka, va), lambda z_, i_: list_position(ka, z_[1]) = i_),
        lambda z_: {{'Field': z_[1], 'Before': NULL::VARCHAR, 'After': z_[2]}}))
    WHEN atx IS NULL THEN list_sort(list_transform(
        list_filter(list_zip(kb, vb), lambda z_, i_: list_position(kb, z_[1]) = i_),
        lambda z_: {{'Field': z_[1], 'Before': z_[2], 'After': NULL::VARCHAR}}))
    WHEN kb = ka THEN list_sort(expand_pairs(same_key_pairs(kb, vb, va)))
    ELSE list_sort(expand_pairs(change_pairs(kb || ka, kb, vb, ka, va))) END;
CREATE OR REPLACE MACRO canonical_time(t) AS
    CASE WHEN length(t) = 24 AND t[24] = 'Z'
          AND strftime(try_strptime(t, '{CANONICAL_TIME}'), '{CANONICAL_TIME}') = t
        THEN try_strptime(t, '{CANONICAL_TIME}')::TIMESTAMP_MS END;
"""  # noqa: S608 (module constants only)

# The event time `ts` of a text column `t`, in two projections: strptime first, then the regex only on rows
# where it failed (a single expression would run the regex for every row: 0.15 s instead of 0.04 s per day).
# (A local year before MIN_EVENT_TIME's is parsed too: 1969-12-31T23:30-01:00 is 1970 in UTC.)
TIME_PARTS = "canonical_time(t) AS ts0, CASE WHEN ts0 IS NULL THEN time_parts(t) END AS tm"
TIME_FROM_PARTS = "coalesce(ts0, time_from_parts(tm)) AS ts"
TIME_IN_RANGE = f"ts BETWEEN TIMESTAMP '{MIN_EVENT_TIME}' AND TIMESTAMP '{MAX_EVENT_TIME}'"
"""The window etl.rules accepts, applied to `ts` where the reasons are decided."""

# The record rules of etl.rules (those decided on a parsed record) as SQL conditions over the parsed struct
# `j`, `is_obj`, `ts` and `src`, checked in RULES order; tests/etl/test_rules.py holds both sides together.
SQL_RULES: dict[str, str] = {
    "not_an_object": "NOT is_obj",
    "no_entities": "j.detail.entities IS NULL OR len(j.detail.entities) = 0",
    "entity_without_id": "NOT list_bool_and(list_transform(j.detail.entities, lambda e: coalesce("
    f"(json_type(e.entity.id) = 'VARCHAR' AND jtext(e.entity.id) <> '') OR json_type(e.entity.id) IN "
    f"{NUMBER_TYPES}, false)))",
    # A clean line (clean_lines) has no backslash and no raw U+007F-U+009F, so none of its strings can hold a
    # control character (raw U+0000-U+001F is not valid JSON): only other lines pay for the list check.
    "id_control_character": "CASE WHEN clean THEN false ELSE list_bool_or(list_transform(j.detail.entities, "
    f"lambda e: coalesce(regexp_matches(jtext(e.entity.id), '{ID_CONTROL_PATTERN}') "
    f"OR regexp_matches(e.parent.id, '{ID_CONTROL_PATTERN}'), false))) END",
    "invalid_time": f"ts IS NULL OR NOT ({TIME_IN_RANGE})",
    "invalid_source": "json_type(j.source) IS DISTINCT FROM 'VARCHAR' "
    f"OR NOT regexp_full_match(src, '{SOURCE_PATTERN}')",
}
assert tuple(SQL_RULES) == PARSED_REASONS, "SQL_RULES must follow etl.rules.RULES"
REASON_CASES = " ".join(f"WHEN {cond} THEN '{reason}'" for reason, cond in SQL_RULES.items())
"""The CASE arms deciding a fast-path record's reason (NULL: stored)."""

CHANGE_LISTS = (
    "e.before::VARCHAR AS before_text, e.after::VARCHAR AS after_text, "
    "json_keys(e.before) AS keys_b, json_extract(e.before, '$.*')::VARCHAR[] AS values_b, "
    "json_keys(e.after) AS keys_a, json_extract(e.after, '$.*')::VARCHAR[] AS values_a"
)
"""Per entity item: the stored Before/After texts and their top-level keys and member texts (in object
order, duplicates kept: the macros take the first), parsed once and shared by the field_changes macro."""

# Expression per output column over `e` (one entities item), `p` (its position), `k` (dedup key), `ts`, `j`,
# and the CHANGE_LISTS columns.
SQL_COLUMNS: dict[str, str] = {
    "Id": "coalesce(k, '') || ':' || p",  # no event_id and no id: ":p", as on the Python path
    "EventId": "k",
    "Timestamp": "ts",
    "DetailType": 'j."detail-type"',
    "ActorName": "j.detail.actor.name",
    "ActorType": "CASE j.detail.actor.type "
    + " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in ACTOR_TYPE_NAMES.items())
    + " ELSE j.detail.actor.type END",
    "EntityId": "jtext(e.entity.id)",
    "EntityName": "e.entity.name",
    "EntityType": "j.detail.entity_type",
    "EntityParentId": "e.parent.id",
    "EntityParentName": "e.parent.name",
    "EntityParentType": "e.parent.type",
    "ChannelCode": "e.channel_code",
    "ChannelAccountCode": "e.channel_account_code",
    "Action": "j.detail.action",
    "Before": "before_text",
    "After": "after_text",
    "CorrelationId": "j.detail.correlation_id",
    # etl.rules.changes in SQL (see MACROS), over the member lists CHANGE_LISTS computes once per row
    "Changes": "field_changes(before_text, after_text, keys_b, values_b, keys_a, values_a)",
}
assert tuple(SQL_COLUMNS) == COLUMN_NAMES, "the SQL column map must follow etl.schema.COLUMNS"



# Lines that might not read back unchanged (apart from whitespace) through DuckDB: not starting with "{", a
# backslash (escapes), a trailing comma (DuckDB accepts and drops it), NaN/Infinity, or a number that is
# negative zero, long (17+ digit/dot characters), has an exponent or a fraction ending in 0 (other than
# ".0"). DuckDB's json_valid already rejects raw control characters inside strings. A line with none of these
# reads back unchanged (checked against json() over 700K demo lines and 180K random numbers); a line with any
# of them gets the exact comparison, which is the rule, so this pattern only decides which lines pay for it.
SUSPECT = (
    r",[ \t\r\n]*[}\]]|[:,\[][ \t\r\n]*(-0|-?[0-9.]{17}|-?[0-9][0-9.]*[eE]"
    r"|-?[0-9]+\.[0-9]*[0-9]0[ \t\r\n]*([,}\]]|$)|[-+]?([nN][aA]|[iI][nN]))"
)
CLEAN_MISS = r"\\|[\x7f-\x9f]|" + SUSPECT
"""Not clean: a backslash (an escape DuckDB may rewrite), a raw U+007F-U+009F (a control character a string
may hold: see SQL_RULES), or a suspect pattern."""


def clean_lines(lines: pa.Array) -> pa.BooleanArray:
    """True for each line that, when it is valid JSON, surely reads back unchanged through DuckDB: it starts
    with `{` and holds no backslash and no suspect pattern. Run in Arrow (RE2, no GIL) on the read threads.

    >>> clean_lines(pa.array(['{"a":1.5}', '{"a":1.50}', '{"a":"\\\\u00e9"}', '[1]'])).to_pylist()
    [True, False, False, False]
    """
    return pc.and_(pc.starts_with(lines, "{"), pc.invert(pc.match_substring_regex(lines, CLEAN_MISS)))


# CASE, not AND/OR: DuckDB evaluates both sides of AND, and json() raises on invalid text. `clean` is
# clean_lines(line); a line it does not clear gets the exact comparison, which is the rule itself.
FAST_LINE = (
    "CASE WHEN NOT json_valid(line) THEN false WHEN clean THEN true"
    " WHEN regexp_matches(line, '(?i)(^|[:,\\[])[ \\t\\r\\n]*[-+]?(nan|inf)') THEN false"
    " ELSE nows(line) = nows(json(line)::VARCHAR) END"
)



INDEX_SQL = """
    SELECT DISTINCT "Key", dt, source FROM (
        SELECT "EntityId" AS "Key", dt, source FROM out
        UNION ALL SELECT "EntityParentId" AS "Key", dt, source FROM out
        UNION ALL SELECT "CorrelationId" AS "Key", dt, source FROM out
    ) WHERE "Key" IS NOT NULL
    ORDER BY "Key", dt, source"""
"""A run's entity index rows (etl.schema.INDEX_COLUMNS) over a relation `out` holding the run's rows (at least
EntityId, EntityParentId, CorrelationId, dt, source): every distinct (id, parent id or correlation id, dt,
source), sorted. Correlation ids share the Key column: a lookup only narrows which partitions are read and the
data query still filters on its own column, so an id that is both an entity and a correlation id costs at most
a few extra partitions, never a wrong row."""



FAST_TABLE_SQL = f"""
    CREATE TEMP TABLE fast AS
    WITH c AS (
        SELECT file_idx, line_no, line, clean, {FAST_LINE} AS ok FROM raw_lines
    ), f AS (
        SELECT file_idx, line_no, line, ok, clean,
            CASE WHEN ok THEN ltrim(line, ' ' || chr(9) || chr(10) || chr(13))[1] = '{{' END AS is_obj,
            CASE WHEN ok THEN from_json(line, '{json.dumps(STRUCT).replace("'", "''")}') END AS j
        FROM c
    ), g AS (
        SELECT *, CASE
            WHEN json_type(j.detail.event_id) = 'VARCHAR' AND jtext(j.detail.event_id) <> ''
                THEN jtext(j.detail.event_id)
            WHEN json_type(j.detail.event_id) IN {NUMBER_TYPES} THEN j.detail.event_id::VARCHAR
            ELSE jtext(j.id) END AS k,
            jtext(j.time) AS t, {TIME_PARTS},
            jtext(j.source) AS src
        FROM f
    ), g2 AS (
        SELECT * EXCLUDE (t, ts0, tm), {TIME_FROM_PARTS} FROM g
    ), r AS (
        SELECT *, CASE WHEN NOT ok THEN NULL {REASON_CASES} END AS reason
        FROM g2
    )
    SELECT file_idx, line_no, ok, reason,
        CASE WHEN NOT ok OR reason IS NOT NULL THEN line END AS line,
        CASE WHEN reason IS NULL THEN j END AS j,
        CASE WHEN reason IS NULL THEN k END AS k,
        CASE WHEN reason IS NULL THEN ts END AS ts,
        CASE WHEN reason IS NULL THEN src END AS src
    FROM r"""  # noqa: S608 (module constants only)
"""Classify step, one pass over `raw_lines` (file_idx, line_no, line, clean): which lines DuckDB takes
exactly (`ok`), their parsed struct, dedup key, time, source and reason; the text only of lines that go to
the Python path (NOT ok) or to quarantine."""

FAST_QUARANTINE_SQL = (
    "SELECT file_idx, line_no, rtrim(line, chr(10) || chr(13)), reason FROM fast "
    "WHERE ok AND reason IS NOT NULL ORDER BY file_idx, line_no"
)
"""Fast-path records that break a rule, with their text."""

SLOW_LINES_SQL = "SELECT file_idx, line_no, rtrim(line, chr(10) || chr(13)) FROM fast WHERE NOT ok"
"""Lines for the Python path (etl.raw.split_records, etl.local.python_record)."""

SLOW_KEYS_TABLE_SQL = "CREATE TEMP TABLE slow_keys (file_idx INT, line_no BIGINT, pos INT, k VARCHAR)"

WINNERS_SQL = """
    CREATE TEMP TABLE winners AS
    SELECT file_idx, line_no, pos FROM (
        SELECT file_idx, line_no, pos, k, row_number() OVER (
            PARTITION BY k ORDER BY file_idx, line_no, pos) AS rn
        FROM (SELECT file_idx, line_no, 0 AS pos, k FROM fast WHERE ok AND reason IS NULL
              UNION ALL SELECT * FROM slow_keys)
    ) WHERE k IS NULL OR rn = 1"""
"""Dedup step over both paths in record order: the first record with a key wins; a record with no key at
all is never a duplicate."""

COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM fast WHERE ok AND reason IS NULL) + (SELECT count(*) FROM slow_keys), "
    "(SELECT count(*) FROM winners)"
)
"""(good events, stored events) after dedup."""

FAST_OUT_SQL = f"""
    SELECT {", ".join(f'{expr} AS "{name}"' for name, expr in SQL_COLUMNS.items())},
        strftime(ts::TIMESTAMP, '%Y-%m-%d') AS dt, src AS source FROM (
        SELECT *, {CHANGE_LISTS} FROM (
            SELECT fast.*, u.e, u.p FROM fast
            JOIN winners w ON w.file_idx = fast.file_idx AND w.line_no = fast.line_no AND w.pos = 0,
            LATERAL (SELECT unnest(list_transform(fast.j.detail.entities,
                lambda e, i: {{'e': e, 'p': i - 1}}), recursive := false) AS u)
        )
    )"""  # noqa: S608 (schema names only)
"""The fast path's output rows (one per entity item of each winner). `strftime` gets a microsecond
TIMESTAMP: on TIMESTAMP_MS DuckDB converts to nanoseconds and fails past 2262-04-11 for the whole day."""


def sorted_out_sql(with_slow_rows: bool) -> str:
    """Every output row once, in file order: partitions (dt, source), then the sort order inside a file;
    `slow_out` (the Python path's winners, same columns) is added when there are any."""
    union = " UNION ALL SELECT * FROM slow_out" if with_slow_rows else ""
    return f'SELECT * FROM ({FAST_OUT_SQL}{union}) ORDER BY dt, source, "EntityId", "Timestamp", "Id"'  # noqa: S608


PARTS_SQL = "SELECT dt, source, count(*) FROM out GROUP BY ALL ORDER BY dt, source"
"""(dt, source, rows) of the output relation `out`, in file order."""

STATS_SQL = 'SELECT count(*), count(*) FILTER (WHERE dt < ?), max("Timestamp") FROM out'
"""(rows, late rows (dt before the arrival day, the parameter), max Timestamp) of `out`."""
