"""The ETL's cheap "reads back unchanged" test never lets through a line the exact rule would reject."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from etl import local

EXACT = (
    "CASE WHEN json_valid(line) AND NOT regexp_matches(line, '(?i)(^|[:,\\[])[ \\t\\r\\n]*[-+]?(nan|inf)')"
    " THEN nows(line) = nows(json(line)::VARCHAR) ELSE false END"
)
LINES = [
    '{"a":1.10}', '{"a":[1.0, 2.50]}', '{"a":1e3}', '{"a":1E-7}', '{"a":-0}', '{"a":-0.0}', '{"a":-0.5}',
    '{"a":12345678901234567890123}', '{"a":0.1000000000000000055511}', '{"a":"\\u00e9"}', '{"a":"\\/"}',
    '{"a":1,}', '[1,2,]', '{"a":[1, {"b":[2,]} ]}', '{"a":NaN}', '{"a":-Infinity}', "NaN", " nan", '"text"',
    "[1, 2]", '{"a":"x\ty"}', '{"a":\t1}\r\n', '{"a":"Rue de la Paix, Inverness"}', '{"t":"10:28:57.580Z"}',
    '{"a":6.49,"b":24.0,"c":12.5,"d":0.00001,"e":"Zoë ☕"}', '{"a":1,"a":2}', '{"a":1}\n', '  {"a":1}',
]


@pytest.mark.parametrize("line", LINES)
def test_cheap_classification_agrees_with_the_exact_rule(line: str) -> None:
    con = duckdb.connect()
    con.execute(local._MACROS)
    clean = local.clean_lines(pa.array([line])).to_pylist()[0]
    sql = f"SELECT {local._FAST_LINE}, {EXACT} FROM (SELECT ? AS line, ? AS clean)"
    cheap, exact = con.execute(sql, [line, clean]).fetchall()[0]
    assert cheap == exact
