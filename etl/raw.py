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

import io
import json
import json.decoder
import json.scanner
import os
import re
import zlib
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


READ_CHUNK_BYTES = 16 << 20
"""Compressed bytes read per call."""
WHOLE_READ_BYTES = 64 << 20
"""A compressed object up to this size is read in one call of its exact size."""
INFLATE_PIECE_BYTES = 64 << 20
"""Most decompressed bytes one zlib call returns: a normal object inflates in one piece (one allocation, no
copies), a bomb in pieces that are cut into lines and dropped one by one."""
WINDOW_BYTES = 1 << 20
"""Lines are cut and screened in windows of about this many bytes, so the per-line arrays of an object full
of blank lines stay small (a 1 GiB object of newlines would otherwise need 8 GB of line offsets)."""
TOO_LARGE_RAW_CHARS = 1000
"""How much of a record_too_large line the quarantine keeps (its first characters), to identify it."""


@dataclass(frozen=True)
class ObjectProblem:
    """Why a raw object could not be read whole: reason (etl.rules.OBJECT_RULES), error text, and how many
    records (non-blank lines) were read before the break (they are processed; the rest is lost)."""

    reason: str
    error: str
    records_read: int = 0


def inflate(source: Path | bytes, max_bytes: int, sink: Callable[[bytes], None]) -> ObjectProblem | None:
    """Decompress one gzip object (a path, or its bytes) piece by piece into `sink`, never more than
    `max_bytes` in all (zlib with an output bound per call, so a decompression bomb never expands in memory).

    Returns None when it reads to the end, else the problem: object_too_large past `max_bytes`;
    unreadable_object (with the error text) when it is not gzip, corrupt, truncated or cannot be opened.
    """
    try:
        f = open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)  # noqa: SIM115
    except OSError as exc:
        return ObjectProblem("unreadable_object", f"{type(exc).__name__}: {exc.strerror or exc}")
    decoder = zlib.decompressobj(wbits=31)  # gzip framing
    fed = False  # the current gzip member has had input
    total = 0
    try:
        with f:
            # Read exactly what is there when it is small (a read of a larger buffer than the file, later
            # shrunk, leaves glibc's heap fragmented: +50 MB peak per day measured), else in chunks.
            size = len(source) if isinstance(source, bytes) else os.fstat(f.fileno()).st_size
            step = size if 0 < size <= WHOLE_READ_BYTES else READ_CHUNK_BYTES
            while chunk := f.read(step):
                while chunk:
                    fed = True
                    out = decoder.decompress(chunk, INFLATE_PIECE_BYTES)
                    total += len(out)
                    if total > max_bytes:
                        return ObjectProblem(
                            "object_too_large",
                            f"decompresses to more than {max_bytes:,} bytes (AUDITLOG_ETL_MAX_OBJECT_BYTES); "
                            "not read further, nothing of it stored",
                        )
                    if out:
                        sink(out)
                    if decoder.eof:  # a member ended; more members may follow (concatenated gzip)
                        chunk = decoder.unused_data
                        decoder, fed = zlib.decompressobj(wbits=31), False
                    else:
                        chunk = decoder.unconsumed_tail
    except OSError as exc:
        return ObjectProblem("unreadable_object", f"{type(exc).__name__}: {exc.strerror or exc}")
    except zlib.error as exc:
        what = "not gzip data, or corrupt" if not total else "corrupt gzip data"
        return ObjectProblem("unreadable_object", f"{what} (zlib.error: {exc})")
    if fed and not decoder.eof:
        return ObjectProblem(
            "unreadable_object", "EOFError: the gzip stream ends before its end-of-stream marker (truncated)"
        )
    return None


@dataclass
class ObjectLines:
    """The lines of one raw object, screened: `line_no` (1-based) and `lines` (valid UTF-8, each with its
    terminator) for lines to parse; blank lines dropped; `not_utf8` (line_no, text with U+FFFD) and
    `too_long` (line_no, bytes, first TOO_LARGE_RAW_CHARS characters) for lines that go to quarantine."""

    line_no: list[np.ndarray]
    lines: list[pa.Array]
    not_utf8: list[tuple[int, str]]
    too_long: list[tuple[int, int, str]]
    problem: ObjectProblem | None = None
    lines_seen: int = 0  # every line, blank ones included

    def extend(self, other: ObjectLines) -> None:
        """Append the lines of the next block of the same object."""
        self.line_no += other.line_no
        self.lines += other.lines
        self.not_utf8 += other.not_utf8
        self.too_long += other.too_long
        self.lines_seen += other.lines_seen

    @property
    def records(self) -> int:
        """Non-blank lines read from the object."""
        return sum(len(n) for n in self.line_no) + len(self.not_utf8) + len(self.too_long)


def split_lines(
    data: bytes | bytearray,
    max_record_bytes: int,
    first_line: int = 1,
    end: int | None = None,
    start: int = 0,
) -> ObjectLines:
    """Cut decompressed object data into lines (LF; a CR before it stays in the element), window by window.

    Blank lines ("\n", "\r\n") are dropped (SEMANTICS: ignored) but keep their numbers; a line longer than
    `max_record_bytes` is set aside unparsed; a window that is not UTF-8 is decoded line by line. Only
    `data[start:end]` is read (the arrays point into `data`: no copy).
    """
    out = ObjectLines([], [], [], [])
    n = len(data) if end is None else end
    buf = np.frombuffer(data, dtype=np.uint8)[:n] if n else np.zeros(0, np.uint8)
    arrow_data = pa.py_buffer(data)
    large = n >= 2**31
    pos = start
    while pos < n:
        stop = min(pos + WINDOW_BYTES, n)
        ends = np.flatnonzero(buf[pos:stop] == 10) + (pos + 1)
        if stop < n:
            if len(ends):
                stop = int(ends[-1])
            else:  # one line longer than the window: it is the window
                nl = data.find(b"\n", stop, n)
                stop = n if nl < 0 else nl + 1
                ends = np.array([stop], dtype=np.int64)
        if not len(ends) or ends[-1] != stop:
            ends = np.append(ends, stop)
        window = buf[pos:stop]
        if not np.any((window != 10) & (window != 13)):  # only CR/LF: blank lines, nothing to keep
            first_line += len(ends)
            out.lines_seen += len(ends)
            pos = stop
            continue
        starts = np.concatenate(([pos], ends[:-1]))
        lengths = ends - starts
        first = buf[starts]
        second = buf[np.minimum(starts + 1, n - 1)]
        blank = ((lengths == 1) & (first == 10)) | ((lengths == 2) & (first == 13) & (second == 10))
        too_long = lengths > max_record_bytes
        numbers = np.arange(first_line, first_line + len(ends), dtype=np.int64)
        for i in np.flatnonzero(too_long & ~blank):
            start = int(starts[i])
            size = int(lengths[i])
            head = bytes(data[start : start + min(size, TOO_LARGE_RAW_CHARS * 4)])
            text = head.decode("utf-8", errors="replace")[:TOO_LARGE_RAW_CHARS].rstrip("\r\n")
            out.too_long.append((int(numbers[i]), size, text))
        keep = ~(blank | too_long)
        offsets = np.concatenate(([pos], ends)).astype(np.int64 if large else np.int32)
        array_type = pa.LargeStringArray if large else pa.StringArray
        arr = array_type.from_buffers(len(ends), pa.py_buffer(offsets), arrow_data)
        if not keep.all():
            arr = arr.filter(bool_array(keep))
            numbers = numbers[keep]
        try:
            arr.validate(full=True)  # raises on invalid UTF-8
        except pa.ArrowInvalid:
            arr, numbers = _decode_window(arr, numbers, out.not_utf8)
        if len(arr):
            out.lines.append(arr.cast(pa.string()) if large else arr)
            out.line_no.append(numbers)
        first_line += len(ends)
        out.lines_seen += len(ends)
        pos = stop
    return out


def bool_array(mask: np.ndarray) -> pa.BooleanArray:
    """A numpy bool mask as an Arrow array (pa.array(numpy) would import pandas, about 1 s)."""
    bits = np.packbits(mask.astype(np.uint8), bitorder="little")
    return pa.BooleanArray.from_buffers(pa.bool_(), len(mask), [None, pa.py_buffer(bits)])


def _decode_window(
    arr: pa.Array, numbers: np.ndarray, not_utf8: list[tuple[int, str]]
) -> tuple[pa.Array, np.ndarray]:
    """Decode a window's lines one by one: the UTF-8 ones stay, the others go to `not_utf8`."""
    texts, kept = [], []
    for no, value in zip(numbers, arr.cast(pa.binary() if arr.type == pa.string() else pa.large_binary()),
                         strict=True):
        line = value.as_py()
        try:
            texts.append(line.decode("utf-8"))
            kept.append(no)
        except UnicodeDecodeError:
            not_utf8.append((int(no), line.decode("utf-8", errors="replace").rstrip("\r\n")))
    return pa.array(texts, pa.string()), np.array(kept, dtype=np.int64)


def read_object_lines(source: Path | bytes, max_object_bytes: int, max_record_bytes: int) -> ObjectLines:
    """One raw object's screened lines (split_lines) and its problem, if it could not be read whole.

    Decompressed text is cut into lines block by block as it arrives, so memory holds the kept lines and one
    block, never the whole object (an object of blank lines costs nothing). Over the size bound nothing is
    kept; after another break the complete lines read before it are kept (records_read counts them).
    """
    out = ObjectLines([], [], [], [])
    pending = bytearray()  # the start of a line that continues in the next piece
    long_line: list[Any] = []  # [bytes so far, first bytes] of a line already over the record bound
    head_bytes = TOO_LARGE_RAW_CHARS * 4

    def set_aside_long_line() -> None:
        head = bytes(long_line[1]).decode("utf-8", errors="replace")[:TOO_LARGE_RAW_CHARS].rstrip("\r\n")
        out.too_long.append((out.lines_seen + 1, long_line[0], head))
        out.lines_seen += 1
        long_line.clear()

    def sink(piece: bytes) -> None:
        start = 0
        if long_line:  # skip to the end of an over-long line without holding it
            nl = piece.find(b"\n")
            upto = len(piece) if nl < 0 else nl + 1
            long_line[0] += upto
            long_line[1] += piece[: max(0, min(upto, head_bytes - len(long_line[1])))]
            if nl < 0:
                return
            set_aside_long_line()
            start = nl + 1
        elif pending:
            piece = bytes(pending) + piece
            pending.clear()
        cut = piece.rfind(b"\n", start) + 1
        if cut:
            out.extend(split_lines(piece, max_record_bytes, out.lines_seen + 1, end=cut, start=start))
        else:
            cut = start
        if len(piece) - cut > max_record_bytes:
            long_line.extend([len(piece) - cut, bytearray(piece[cut : cut + head_bytes])])
        else:
            pending.extend(memoryview(piece)[cut:])

    def take(final: bool) -> None:
        if final and long_line:
            set_aside_long_line()
        elif final and pending:
            out.extend(split_lines(bytes(pending), max_record_bytes, out.lines_seen + 1))
        pending.clear()

    problem = inflate(source, max_object_bytes, sink)
    if problem is None:
        take(final=True)
    elif problem.reason == "object_too_large":
        return ObjectLines([], [], [], [], problem)
    else:
        take(final=False)  # the line cut by the break is not a record
        out.problem = ObjectProblem(problem.reason, problem.error, out.records)
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


# The pure-Python scanner and its parse helpers are real, stable parts of the json package but private, so
# typeshed leaves them out; typed as Any here rather than silenced line by line.
_decoder: Any = json.decoder
_scanner_module: Any = json.scanner


class _RawContext:
    """Context for json.scanner.py_make_scanner that wraps every value in `Raw` with its source text."""

    strict = True
    object_hook = None
    memo: dict[str, Any] = {}

    def __init__(self) -> None:
        self.memo = {}
        self.object_pairs_hook = _first_wins

    @staticmethod
    def parse_object(
        s_and_end: tuple[str, int],
        strict: bool,
        scan_once: Callable[[str, int], tuple[Any, int]],
        object_hook: Callable[[dict[str, Any]], Any] | None,
        object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None,
        memo: dict[str, Any],
    ) -> tuple[Raw, int]:
        s, start = s_and_end
        value, end = _decoder.JSONObject(
            s_and_end, strict, scan_once, object_hook, object_pairs_hook, memo
        )
        return Raw("object", value, minify(s[start - 1 : end])), end

    @staticmethod
    def parse_array(
        s_and_end: tuple[str, int], scan_once: Callable[[str, int], tuple[Any, int]]
    ) -> tuple[Raw, int]:
        s, start = s_and_end
        value, end = _decoder.JSONArray(s_and_end, scan_once)
        return Raw("array", [_wrap(v) for v in value], minify(s[start - 1 : end])), end

    @staticmethod
    def parse_string(s: str, start: int, strict: bool) -> tuple[Raw, int]:
        value, end = _decoder.scanstring(s, start, strict)
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
    scanner: Callable[[str, int], tuple[Any, int]] = _scanner_module.py_make_scanner(_RawContext())
    return scanner


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


def _decode_message(exc: ValueError) -> str:
    """A JSON error as "what at column N" (json's "Unterminated string starting at" already ends in "at").

    >>> _decode_message(json.JSONDecodeError("Unterminated string starting at", '{"a', 1))
    'Unterminated string starting at column 2'
    >>> _decode_message(json.JSONDecodeError("Expecting value", "x", 0))
    'Expecting value at column 1'
    """
    if not isinstance(exc, json.JSONDecodeError):
        return str(exc)
    what = exc.msg.removesuffix(" at")
    return f"{what} at column {exc.pos + 1}"


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
            msg = _decode_message(exc)
            records.append(Record(len(records), line[idx:].rstrip(JSON_WHITESPACE), None, msg))
            break
        records.append(Record(len(records), line[idx:end], _wrap(value), None))
        idx = _skip_ws(line, end)
    return records
