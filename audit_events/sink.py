"""A local stand-in for Kinesis Data Firehose: writes the raw objects Firehose would write to S3.

Records are buffered and flushed as gzip, newline-delimited objects (each record followed by "\\n", like
Firehose's AppendDelimiterToRecord processor) under ``etl.layout.raw_hour_prefix(arrival)``, where arrival
is the time the OLDEST record of the buffer arrived (Firehose's ``!{timestamp}``). Object names follow
Firehose's ``<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.json.gz``. Each object is written to a hidden temporary
name in the same folder, fsynced and renamed, so a reader never sees half an object.

>>> import gzip, tempfile
>>> from datetime import UTC, datetime
>>> root = Path(tempfile.mkdtemp())
>>> with LocalFirehoseSink(root, clock=lambda: datetime(2026, 11, 27, 5, 59, tzinfo=UTC)) as sink:
...     sink.put({"a": 1})
...     sink.put('{"b": 2}')
>>> [p.relative_to(root).parent.as_posix() for p in sink.written]
['raw/year=2026/month=11/day=27/hour=05']
>>> gzip.decompress(sink.written[0].read_bytes())
b'{"a":1}\\n{"b": 2}\\n'
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from etl.layout import raw_hour_prefix

DEFAULT_BUFFER_RECORDS = 1000
DEFAULT_BUFFER_BYTES = 5 * 1024 * 1024
DEFAULT_BUFFER_SECONDS = 60.0
DELIMITER = b"\n"


def utc_now() -> datetime:
    """The current time in UTC (the sink's default clock)."""
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    """Treat a naive datetime as UTC; convert an aware one to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def encode_record(record: dict[str, Any] | str | bytes) -> bytes:
    """A record's bytes as Firehose receives them: dicts as compact UTF-8 JSON, str/bytes as given.

    >>> encode_record({"k": "é", "n": [1, None]})
    b'{"k":"\\xc3\\xa9","n":[1,null]}'
    >>> encode_record("{not json")
    b'{not json'
    """
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode("utf-8")
    if isinstance(record, dict):
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raise TypeError(f"a record must be a dict, str or bytes, not {type(record).__name__}")


class LocalFirehoseSink:
    """Buffer records and write them as Firehose-style gzip NDJSON objects under a data folder.

    A buffer is flushed when it holds ``buffer_records`` records or ``buffer_bytes`` bytes, when its oldest
    record is ``buffer_seconds`` old (checked on ``put`` and on ``flush_if_due``), and on ``close``.
    ``object_id`` makes the random part of object names (default uuid4; the demo passes a seeded one).
    ``put`` is thread-safe.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        stream_name: str = "auditlog",
        buffer_records: int = DEFAULT_BUFFER_RECORDS,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        buffer_seconds: float = DEFAULT_BUFFER_SECONDS,
        clock: Callable[[], datetime] = utc_now,
        compresslevel: int = 6,
        object_id: Callable[[], str] | None = None,
    ) -> None:
        if buffer_records < 1:
            raise ValueError(f"buffer_records must be at least 1, got {buffer_records}")
        if buffer_bytes < 1:
            raise ValueError(f"buffer_bytes must be at least 1, got {buffer_bytes}")
        if buffer_seconds <= 0:
            raise ValueError(f"buffer_seconds must be positive, got {buffer_seconds}")
        if not stream_name or "/" in stream_name:
            raise ValueError(f"stream_name must be a non-empty name without '/', got {stream_name!r}")
        self.data_dir = Path(data_dir)
        self.stream_name = stream_name
        self.buffer_records = buffer_records
        self.buffer_bytes = buffer_bytes
        self.buffer_seconds = buffer_seconds
        self.clock = clock
        self.compresslevel = compresslevel
        self._object_id = object_id or (lambda: str(uuid.uuid4()))
        self._lock = threading.RLock()
        self._buffer: list[bytes] = []
        self._buffered_bytes = 0
        self._oldest: datetime | None = None
        self._closed = False
        self.written: list[Path] = []
        self.records_written = 0
        self.bytes_written = 0

    @property
    def files_written(self) -> int:
        """How many objects this sink has written."""
        return len(self.written)

    @property
    def buffered_records(self) -> int:
        """How many records wait in the buffer."""
        return len(self._buffer)

    def put(self, record: dict[str, Any] | str | bytes) -> None:
        """Add one record (arrival = the clock now); flush first if the buffer is due, after if it is full."""
        data = encode_record(record) + DELIMITER
        with self._lock:
            if self._closed:
                raise ValueError("this sink is closed; create a new LocalFirehoseSink to write more records")
            now = _as_utc(self.clock())
            if self._due(now):
                self._flush()
            if not self._buffer:
                self._oldest = now
            self._buffer.append(data)
            self._buffered_bytes += len(data)
            if len(self._buffer) >= self.buffer_records or self._buffered_bytes >= self.buffer_bytes:
                self._flush()

    def flush_if_due(self) -> Path | None:
        """Flush when the oldest buffered record is `buffer_seconds` old; return the written path, if any."""
        with self._lock:
            if self._due(_as_utc(self.clock())):
                return self._flush()
            return None

    def flush(self) -> Path | None:
        """Write whatever is buffered now; return the written path (None when the buffer was empty)."""
        with self._lock:
            return self._flush()

    def close(self) -> None:
        """Flush the buffer and refuse further records."""
        with self._lock:
            if not self._closed:
                self._flush()
                self._closed = True

    def __enter__(self) -> LocalFirehoseSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _due(self, now: datetime) -> bool:
        return (
            self._oldest is not None
            and bool(self._buffer)
            and (now - self._oldest).total_seconds() >= self.buffer_seconds
        )

    def _flush(self) -> Path | None:
        if not self._buffer:
            return None
        assert self._oldest is not None
        arrival = self._oldest
        payload = b"".join(self._buffer)
        folder = self.data_dir / raw_hour_prefix(arrival)
        name = f"{self.stream_name}-1-{arrival:%Y-%m-%d-%H-%M-%S}-{self._object_id()}.json.gz"
        path = folder / name
        self._write_atomically(
            path, gzip.compress(payload, compresslevel=self.compresslevel, mtime=int(arrival.timestamp()))
        )
        self.written.append(path)
        self.records_written += len(self._buffer)
        self.bytes_written += len(payload)
        self._buffer = []
        self._buffered_bytes = 0
        self._oldest = None
        return path

    @staticmethod
    def _write_atomically(path: Path, content: bytes) -> None:
        """Write to a hidden temp name in the same folder (ignored by the ETL), fsync, then rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
