"""LocalFirehoseSink writes what Firehose writes: gzip NDJSON, arrival-hour folders, atomic objects."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from audit_events.sink import LocalFirehoseSink

T0 = datetime(2026, 11, 27, 5, 59, 50, tzinfo=UTC)
NAME = re.compile(r"^auditlog-1-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-f-]{36}\.json\.gz$")


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def lines_of(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes())
    assert data.endswith(b"\n")
    return data.split(b"\n")[:-1]


def test_records_round_trip_as_gzip_ndjson(tmp_path: Path) -> None:
    clock = FakeClock()
    first = {"id": "1", "name": "Zoë ☕", "n": None, "nested": {"a": [1, 2.5, True]}}
    records = [first, '{"raw": 1}', b"{trunc"]
    with LocalFirehoseSink(tmp_path, clock=clock) as sink:
        for record in records:
            sink.put(record)
    [path] = all_files(tmp_path)
    assert NAME.match(path.name)
    lines = lines_of(path)
    assert json.loads(lines[0]) == records[0]
    assert b"\n" not in lines[0] and lines[0].decode("utf-8").count("Zoë ☕") == 1
    assert lines[1:] == [b'{"raw": 1}', b"{trunc"]
    assert (sink.records_written, sink.files_written) == (3, 1)
    assert sink.bytes_written == sum(len(line) + 1 for line in lines)
    assert sink.written == [path]


def test_object_goes_under_the_oldest_records_arrival_hour(tmp_path: Path) -> None:
    clock = FakeClock()
    sink = LocalFirehoseSink(tmp_path, clock=clock, buffer_seconds=60)
    sink.put({"n": 1})
    clock.advance(20)  # 06:00:10, next hour, same buffer
    sink.put({"n": 2})
    sink.close()
    [path] = all_files(tmp_path)
    assert path.parent.relative_to(tmp_path).as_posix() == "raw/year=2026/month=11/day=27/hour=05"
    assert path.name.startswith("auditlog-1-2026-11-27-05-59-50-")
    assert [json.loads(x)["n"] for x in lines_of(path)] == [1, 2]


def test_arrival_in_another_time_zone_is_filed_in_utc(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 27, 1, 30, tzinfo=timezone(timedelta(hours=2))))
    with LocalFirehoseSink(tmp_path, clock=clock, stream_name="audit-stream") as sink:
        sink.put({"n": 1})
    [path] = all_files(tmp_path)
    assert path.parent.relative_to(tmp_path).as_posix() == "raw/year=2026/month=11/day=26/hour=23"
    assert path.name.startswith("audit-stream-1-2026-11-26-23-30-00-")


def test_flush_by_record_count(tmp_path: Path) -> None:
    sink = LocalFirehoseSink(tmp_path, clock=FakeClock(), buffer_records=3)
    for n in range(7):
        sink.put({"n": n})
    assert sink.files_written == 2 and sink.buffered_records == 1
    sink.close()
    contents = [[json.loads(x)["n"] for x in lines_of(p)] for p in sink.written]
    assert contents == [[0, 1, 2], [3, 4, 5], [6]]


def test_flush_by_bytes(tmp_path: Path) -> None:
    sink = LocalFirehoseSink(tmp_path, clock=FakeClock(), buffer_bytes=50)
    record = "x" * 19  # 20 bytes with the delimiter
    sink.put(record)
    sink.put(record)
    assert sink.files_written == 0
    sink.put(record)  # 60 bytes >= 50
    assert sink.files_written == 1
    assert lines_of(sink.written[0]) == [record.encode()] * 3


def test_flush_by_age_on_put_and_on_flush_if_due(tmp_path: Path) -> None:
    clock = FakeClock()
    sink = LocalFirehoseSink(tmp_path, clock=clock, buffer_seconds=60)
    sink.put({"n": 1})
    clock.advance(59)
    assert sink.flush_if_due() is None
    sink.put({"n": 2})
    assert sink.files_written == 0
    clock.advance(1)
    path = sink.flush_if_due()
    assert path is not None and [json.loads(x)["n"] for x in lines_of(path)] == [1, 2]

    # A put that finds the buffer due flushes the old buffer first; the new record starts the next object.
    sink.put({"n": 3})
    clock.advance(3600)
    sink.put({"n": 4})
    assert sink.files_written == 2
    assert [json.loads(x)["n"] for x in lines_of(sink.written[1])] == [3]
    sink.close()
    assert [json.loads(x)["n"] for x in lines_of(sink.written[2])] == [4]
    assert sink.written[2].parent.name == "hour=07"


def test_close_with_nothing_buffered_writes_nothing_and_refuses_more(tmp_path: Path) -> None:
    sink = LocalFirehoseSink(tmp_path, clock=FakeClock())
    sink.close()
    assert all_files(tmp_path) == []
    with pytest.raises(ValueError, match="closed"):
        sink.put({"n": 1})


@pytest.mark.parametrize(
    "kwargs", [{"buffer_records": 0}, {"buffer_bytes": 0}, {"buffer_seconds": 0}, {"stream_name": "a/b"}]
)
def test_bad_settings_are_refused(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        LocalFirehoseSink(tmp_path, **kwargs)


def test_only_complete_gz_files_exist_after_each_put(tmp_path: Path) -> None:
    clock = FakeClock()
    sink = LocalFirehoseSink(tmp_path, clock=clock, buffer_records=4)
    for n in range(25):
        sink.put({"n": n, "pad": "p" * n})
        clock.advance(30)
        files = all_files(tmp_path)
        assert all(NAME.match(p.name) for p in files), files
        assert sum(len(lines_of(p)) for p in files) == sink.records_written
    sink.close()
    assert sorted(json.loads(x)["n"] for p in all_files(tmp_path) for x in lines_of(p)) == list(range(25))


def test_rename_is_from_a_hidden_complete_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_replace = os.replace
    seen = []

    def checking_replace(src: str | Path, dst: str | Path) -> None:
        src, dst = Path(src), Path(dst)
        seen.append(src.name)
        assert src.parent == dst.parent and src.name.startswith(".") and not src.name.endswith(".gz")
        assert not dst.exists()
        assert gzip.decompress(src.read_bytes()) == b'{"n":1}\n'  # complete before it becomes visible
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", checking_replace)
    with LocalFirehoseSink(tmp_path, clock=FakeClock()) as sink:
        sink.put({"n": 1})
    assert len(seen) == 1 and [p.name for p in all_files(tmp_path)] == [sink.written[0].name]


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_replace(src: str | Path, dst: str | Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    sink = LocalFirehoseSink(tmp_path, clock=FakeClock())
    sink.put({"n": 1})
    with pytest.raises(OSError, match="disk full"):
        sink.flush()
    assert all_files(tmp_path) == []
    assert sink.buffered_records == 1 and sink.files_written == 0


def test_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            for path in tmp_path.rglob("*.gz"):
                try:
                    gzip.decompress(path.read_bytes())
                except FileNotFoundError:
                    pass
                except (OSError, EOFError) as exc:
                    problems.append(f"{path.name}: {exc}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with LocalFirehoseSink(tmp_path, buffer_records=50) as sink:
            for n in range(2000):
                sink.put({"n": n, "text": "abc" * 50})
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert sink.files_written == 40


def test_put_is_thread_safe(tmp_path: Path) -> None:
    sink = LocalFirehoseSink(tmp_path, buffer_records=64)

    def writer(k: int) -> None:
        for n in range(500):
            sink.put({"k": k, "n": n})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    got = sorted((r["k"], r["n"]) for p in sink.written for r in map(json.loads, lines_of(p)))
    assert got == [(k, n) for k in range(4) for n in range(500)]
    assert sink.records_written == 2000
