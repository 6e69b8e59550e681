"""Raw object helpers: listing days and files, reading gzip lines, splitting and exact-text parsing."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from etl import raw
from tests.etl.conftest import write_raw


def _lines(obj: raw.ObjectLines) -> list[tuple[int, str]]:
    return [(int(n), t) for nums, arr in zip(obj.line_no, obj.lines, strict=True)
            for n, t in zip(nums, arr.to_pylist(), strict=True)]


def test_object_lines_keep_numbers_and_crlf_and_drop_blank_lines(tmp_path: Path) -> None:
    path = write_raw(tmp_path, datetime(2026, 11, 27, 1), b'{"a":1}\r\n\n\r\n {"b":2}')
    obj = raw.read_object_lines(path, 1 << 20, 1 << 20)
    assert _lines(obj) == [(1, '{"a":1}\r\n'), (4, ' {"b":2}')]
    assert obj.problem is None and obj.records == 2


def test_non_utf8_lines_are_set_aside_with_replacement_characters(tmp_path: Path) -> None:
    path = write_raw(tmp_path, datetime(2026, 11, 27, 1), b'{"a":1}\n\xff\xfe\n{"b":2}\n')
    obj = raw.read_object_lines(path, 1 << 20, 1 << 20)
    assert _lines(obj) == [(1, '{"a":1}\n'), (3, '{"b":2}\n')]
    assert obj.not_utf8 == [(2, "\ufffd\ufffd")]


def test_windows_cut_at_line_ends_and_long_lines_are_set_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raw, "WINDOW_BYTES", 8)
    data = b"ab\n" + b"x" * 20 + b"\n\n" + "é\n".encode() + b"tail"
    obj = raw.split_lines(data, max_record_bytes=10)
    assert _lines(obj) == [(1, "ab\n"), (4, "é\n"), (5, "tail")]
    assert obj.too_long == [(2, 21, "x" * 20)]


@pytest.mark.parametrize("piece", [7, 64, 1 << 20])
def test_lines_across_inflate_pieces_and_an_over_long_one_never_held_whole(
    monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    """The object arrives in pieces of `piece` bytes: lines crossing pieces are joined, a line over the record
    bound is counted and set aside as it streams by, and the numbering stays that of the object."""
    import gzip

    monkeypatch.setattr(raw, "INFLATE_PIECE_BYTES", piece)
    monkeypatch.setattr(raw, "READ_CHUNK_BYTES", 5)
    monkeypatch.setattr(raw, "WHOLE_READ_BYTES", 0)  # read the compressed input 5 bytes at a time
    data = b'{"a":1}\n' + b"L" * 500 + b"\n\n" + b'{"b":22222222}\r\n' + b"M" * 300
    obj = raw.read_object_lines(gzip.compress(data), 1 << 20, 100)
    assert _lines(obj) == [(1, '{"a":1}\n'), (4, '{"b":22222222}\r\n')]
    assert obj.too_long == [(2, 501, "L" * 500), (5, 300, "M" * 300)]
    assert obj.lines_seen == 5 and obj.problem is None


def test_object_over_the_size_bound_is_not_kept(tmp_path: Path) -> None:
    path = write_raw(tmp_path, datetime(2026, 11, 27, 1), b"{}\n" * 1000)
    obj = raw.read_object_lines(path, 2999, 1 << 20)
    assert obj.lines == [] and obj.problem is not None
    assert (obj.problem.reason, obj.problem.records_read) == ("object_too_large", 0)
    assert "2,999 bytes" in obj.problem.error


def test_truncated_object_keeps_the_complete_lines_read_before_the_break(tmp_path: Path) -> None:
    import gzip
    import os

    data = b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, os.urandom(30).hex().encode()) for i in range(5000))
    blob = gzip.compress(data)
    obj = raw.read_object_lines(blob[: len(blob) // 2], 1 << 30, 1 << 20)
    assert obj.problem is not None and obj.problem.reason == "unreadable_object"
    assert "EOFError" in obj.problem.error and "truncated" in obj.problem.error
    got = _lines(obj)
    assert 0 < len(got) < 5000 and obj.problem.records_read == len(got)
    assert [n for n, _ in got] == list(range(1, len(got) + 1))
    assert all(t.endswith("\n") for _, t in got)  # the line cut by the break is not kept


def test_not_gzip_and_no_access_are_unreadable_objects(tmp_path: Path) -> None:
    not_gzip = tmp_path / "x.gz"
    not_gzip.write_bytes(b"no gzip here")
    obj = raw.read_object_lines(not_gzip, 1 << 20, 1 << 20)
    assert obj.problem is not None and obj.problem.reason == "unreadable_object"
    assert "not gzip" in obj.problem.error and obj.problem.records_read == 0
    missing = raw.read_object_lines(tmp_path / "gone.gz", 1 << 20, 1 << 20)
    assert missing.problem is not None and "FileNotFoundError" in missing.problem.error


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


def test_an_unterminated_string_is_reported_once_with_its_column() -> None:
    """Seen on the Pipeline page: 'Unterminated string starting at at column 180' (json's message already
    ends in 'at')."""
    from etl.raw import split_records

    (rec,) = split_records('{"a": "no end')
    assert rec.error == "Unterminated string starting at column 7"
