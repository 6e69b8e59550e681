"""Raw object helpers: listing days and files, reading gzip lines, splitting and exact-text parsing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from etl import raw
from tests.etl.conftest import write_raw


def test_read_lines_keeps_line_numbers_blank_lines_and_crlf(tmp_path: Path) -> None:
    path = write_raw(tmp_path, datetime(2026, 11, 27, 1), b'{"a":1}\r\n\n{"b":2}')
    assert raw.read_lines(path).to_pylist() == ['{"a":1}\r\n', "\n", '{"b":2}']


def test_read_lines_rejects_non_utf8_and_decode_lines_marks_the_line(tmp_path: Path) -> None:
    path = write_raw(tmp_path, datetime(2026, 11, 27, 1), b'{"a":1}\n\xff\xfe\n')
    with pytest.raises(ValueError):
        raw.read_lines(path)
    assert raw.decode_lines(path) == [('{"a":1}', True), ("\ufffd\ufffd", False)]


def test_raw_files_sorted_and_only_gz(tmp_path: Path) -> None:
    b = write_raw(tmp_path, datetime(2026, 11, 27, 5), [], name="b.gz")
    a = write_raw(tmp_path, datetime(2026, 11, 27, 5), [], name="a.gz")
    c = write_raw(tmp_path, datetime(2026, 11, 27, 0), [], name="z.gz")
    (a.parent / "notes.txt").write_text("x")
    assert raw.raw_files(tmp_path, date(2026, 11, 27)) == [c, a, b]
    assert raw.raw_days(tmp_path) == [date(2026, 11, 27)]


@pytest.mark.parametrize(
    ("line", "texts"),
    [
        ('{"a":1}{"b":2}', ['{"a":1}', '{"b":2}']),
        ('  {"a":1}  {"b":[1,2]}\r', ['{"a":1}', '{"b":[1,2]}']),
        ("   ", []),
        ('{"a":"}{"}{"b":2}', ['{"a":"}{"}', '{"b":2}']),
    ],
)
def test_split_records(line: str, texts: list[str]) -> None:
    records = raw.split_records(line)
    assert [r.text for r in records] == texts
    assert all(r.error is None for r in records)
    assert [r.pos for r in records] == list(range(len(texts)))


def test_split_records_reports_the_unparseable_rest() -> None:
    good, bad = raw.split_records('{"a":1} {"a":1,}')
    assert good.value is not None and bad.value is None
    assert bad.text == '{"a":1,}' and "column" in (bad.error or "")


@pytest.mark.parametrize("text", ['{"a":NaN}', "[1,]", '{"a":01}', '{"a":"x\ty"}', "{'a':1}"])
def test_parse_raw_is_strict(text: str) -> None:
    with pytest.raises(ValueError):
        raw.parse_raw(text)


def test_parse_raw_keeps_original_text_first_key_wins() -> None:
    value = raw.parse_raw('{ "b" : 1.10 , "a": [ 1e3, "\\u00e9" ], "b": 2, "n": null, "t": true }')
    assert value.text == '{"b":1.10,"a":[1e3,"\\u00e9"],"b":2,"n":null,"t":true}'
    assert value.value["b"].as_text() == "1.10"
    assert value.value["a"].value[1].as_text() == "é"
    assert value.value["n"].as_text() is None and value.value["t"].as_text() == "true"
