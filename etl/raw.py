"""Reading Firehose raw objects: listing a day's files, gzip lines as Arrow, splitting and parsing records.

The fast path hands whole lines to DuckDB. Lines DuckDB cannot take as one exact JSON object come here:
`split_records` cuts concatenated objects apart and `RawParser` parses each one keeping every value's
original text, so JSON columns (Before/After, numbers) are stored byte for byte as the producer wrote them.

>>> [(r.pos, r.text, r.error) for r in split_records('{"a":1} {"b":2}{"c":3}')]
[(0, '{"a":1}', None), (1, '{"b":2}', None), (2, '{"c":3}', None)]
>>> parse_raw('{"n": 1.10, "s": "\\\\u00e9"}').text
'{"n":1.10,"s":"\\\\u00e9"}'
"""

from __future__ import annotations

import gzip
import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from etl import layout

JSON_WHITESPACE = " \t\r\n"
_WS_OUTSIDE_STRINGS = re.compile(r'("(?:[^"\\]|\\.)*")|[ \t\r\n]+', re.DOTALL)


def raw_day_dir(data_dir: Path, day: date) -> Path:
    """The folder holding every raw object that arrived on `day`."""
    return data_dir / layout.raw_day_prefix(day)


def raw_files(data_dir: Path, day: date) -> list[Path]:
    """Every gzip object (name ending in .gz) under the day's hour folders, sorted by key."""
    day_dir = raw_day_dir(data_dir, day)
    files = [p for p in day_dir.glob("hour=*/*.gz") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(data_dir).as_posix())


def raw_days(data_dir: Path) -> list[date]:
    """Every arrival day that has at least one raw .gz object, sorted."""
    days = set()
    for hour_dir in (Path(data_dir) / layout.RAW_PREFIX).glob("year=*/month=*/day=*/hour=*"):
        if not any(p.is_file() for p in hour_dir.glob("*.gz")):
            continue
        try:
            y, m, d = (int(part.split("=", 1)[1]) for part in hour_dir.parts[-4:-1])
            days.add(date(y, m, d))
        except ValueError:
            continue  # a folder that is not a Firehose date prefix is not ours to read
    return sorted(days)


def read_lines(path: Path) -> pa.StringArray:
    """The gzip file's lines as an Arrow string array, one element per LF-terminated line.

    Each element keeps its own terminator ("\\n" or "\\r\\n"); element i is line i + 1. Raises ValueError
    when the text is not UTF-8 (the caller then falls back to `decode_lines`).
    """
    data = gzip.decompress(path.read_bytes())
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10) + 1
    if not len(ends) or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    offsets = np.concatenate(([0], ends)).astype(np.int32 if len(data) < 2**31 else np.int64)
    if offsets.dtype == np.int64:
        arr = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    else:
        arr = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    arr.validate(full=True)  # raises on invalid UTF-8
    return arr if len(data) else pa.array([], pa.string())


def decode_lines(path: Path) -> list[tuple[str, bool]]:
    """The gzip file's lines decoded one by one: (text, True), or (text with U+FFFD, False) when not UTF-8."""
    out: list[tuple[str, bool]] = []
    for line in gzip.decompress(path.read_bytes()).split(b"\n"):
        try:
            out.append((line.decode("utf-8"), True))
        except UnicodeDecodeError:
            out.append((line.decode("utf-8", errors="replace").rstrip("\r"), False))
    if out and out[-1] == ("", True):
        out.pop()
    return out


_LINE_BREAKS_JSON_KEEPS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def jsonl_line(obj: object) -> str:
    r"""One JSON Lines line (with its LF) for a quarantine file: UTF-8 text kept readable, but U+0085, U+2028
    and U+2029 escaped, because str.splitlines() (what readers use) breaks a line at each of them.

    >>> jsonl_line({"raw": "a\u2028b\x85é"})
    '{"raw": "a\\u2028b\\u0085é"}\n'
    """
    text = json.dumps(obj, ensure_ascii=False)
    for ch, escaped in _LINE_BREAKS_JSON_KEEPS.items():
        text = text.replace(ch, escaped)
    return text + "\n"


def minify(text: str) -> str:
    """JSON text with insignificant whitespace removed; strings, numbers and escapes untouched.

    >>> minify('{ "a" : [1.10 , "x y"] }')
    '{"a":[1.10,"x y"]}'
    """
    return _WS_OUTSIDE_STRINGS.sub(lambda m: m.group(1) or "", text)


@dataclass(frozen=True)
class Raw:
    """A parsed JSON value with its minified original text. Objects hold dict[str, Raw] (first key wins)."""

    kind: str  # object, array, string, number, true, false, null
    value: Any
    text: str

    def as_text(self) -> str | None:
        """Column text: a string as is, null as None, anything else as its JSON text."""
        if self.kind == "null":
            return None
        return self.value if self.kind == "string" else self.text


_CONSTANTS = {True: "true", False: "false", None: "null"}


def _wrap(value: Any) -> Raw:
    if isinstance(value, Raw):
        return value
    return Raw(_CONSTANTS[value], value, _CONSTANTS[value])


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Raw]:
    out: dict[str, Raw] = {}
    for k, v in pairs:
        out.setdefault(k, _wrap(v))
    return out


class _RawContext:
    """Context for json.scanner.py_make_scanner that wraps every value in `Raw` with its source text."""

    strict = True
    object_hook = None
    memo: dict = {}

    def __init__(self) -> None:
        self.memo = {}
        self.object_pairs_hook = _first_wins

    @staticmethod
    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo):
        s, start = s_and_end
        value, end = json.decoder.JSONObject(
            s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo
        )
        return Raw("object", value, minify(s[start - 1 : end])), end

    @staticmethod
    def parse_array(s_and_end, scan_once):
        s, start = s_and_end
        value, end = json.decoder.JSONArray(s_and_end, scan_once)
        return Raw("array", [_wrap(v) for v in value], minify(s[start - 1 : end])), end

    @staticmethod
    def parse_string(s, start, strict):
        value, end = json.decoder.scanstring(s, start, strict)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise json.JSONDecodeError("Lone surrogate escape in string", s, start - 1) from None
        return Raw("string", value, s[start - 1 : end]), end

    @staticmethod
    def parse_int(text: str) -> Raw:
        return Raw("number", int(text), text)

    @staticmethod
    def parse_float(text: str) -> Raw:
        return Raw("number", text, text)

    @staticmethod
    def parse_constant(text: str) -> Raw:
        raise ValueError(f"{text} is not valid JSON")


def _scanner() -> Callable[[str, int], tuple[Any, int]]:
    return json.scanner.py_make_scanner(_RawContext())


def parse_raw(text: str) -> Raw:
    """Parse one JSON text strictly (no NaN, no trailing commas), keeping each value's original text.

    Raises ValueError naming the position of the first error.
    """
    value, end = _scan_value(_scanner(), text, _skip_ws(text, 0))
    if _skip_ws(text, end) != len(text):
        raise ValueError(f"extra data at column {end + 1}")
    return _wrap(value)


def _skip_ws(text: str, idx: int) -> int:
    while idx < len(text) and text[idx] in JSON_WHITESPACE:
        idx += 1
    return idx


def _scan_value(scan: Callable[[str, int], tuple[Any, int]], text: str, idx: int) -> tuple[Any, int]:
    try:
        return scan(text, idx)
    except StopIteration as exc:
        raise ValueError(f"expecting a JSON value at column {exc.value + 1}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


@dataclass(frozen=True)
class Record:
    """One record cut from a line: its position in the line, its raw text, and its value or parse error."""

    pos: int
    text: str
    value: Raw | None
    error: str | None


def split_records(line: str) -> list[Record]:
    """Cut a line into records: one per JSON value, concatenated with or without whitespace.

    Text that does not parse from some point on becomes one record with the error (the rest of the line).
    A blank line yields no record.

    >>> [(r.text, r.error) for r in split_records('{"a":1}{oops')]
    [('{"a":1}', None), ('{oops', 'Expecting property name enclosed in double quotes at column 9')]
    """
    scan = _scanner()
    records: list[Record] = []
    idx = _skip_ws(line, 0)
    while idx < len(line):
        try:
            value, end = _scan_value(scan, line, idx)
        except ValueError as exc:
            msg = f"{exc.msg} at column {exc.pos + 1}" if isinstance(exc, json.JSONDecodeError) else str(exc)
            records.append(Record(len(records), line[idx:].rstrip(JSON_WHITESPACE), None, msg))
            break
        records.append(Record(len(records), line[idx:end], _wrap(value), None))
        idx = _skip_ws(line, end)
    return records
