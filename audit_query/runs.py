"""ETL run reports, quarantined records and data freshness, read from a data folder or bucket (no UI code).

Both ETLs (local DuckDB and Glue) write `reports/<run_id>.json` and `quarantine/<run_id>.jsonl` under the same
root (etl.layout). `RunStore` reads them through a tiny `Storage` (list keys, read text): `LocalStorage` for a
data folder, `S3Storage` for `s3://bucket/prefix`. Unreadable files are reported, never fatal.

>>> import tempfile
>>> store = RunStore(LocalStorage(tempfile.mkdtemp()))
>>> store.runs(), store.freshness().events_up_to
([], None)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from etl import layout
from etl.errors import ConfigurationError


class Storage(Protocol):
    """Where the reports live: keys are '/'-separated paths relative to the data root."""

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (e.g. 'reports/'), any order."""
        ...

    def read_text(self, key: str) -> str:
        """The UTF-8 text of one key; OSError when it cannot be read."""
        ...


class LocalStorage:
    """A local data folder (the embedded mode)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir)

    def list_keys(self, prefix: str) -> list[str]:
        """Files under `root/prefix`, as keys relative to root."""
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return [p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file()]

    def read_text(self, key: str) -> str:
        """Read one file as UTF-8."""
        return (self.root / key).read_text(encoding="utf-8")


class S3Storage:
    """An S3 bucket and prefix (the cloud mode); `client` is a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under prefix (paginated listing), relative to the store's prefix."""
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        ):
            keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", ()))
        return keys

    def read_text(self, key: str) -> str:
        """Read one object as UTF-8; S3 errors become OSError."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
            text: str = body.read().decode("utf-8")
            return text
        except Exception as exc:  # botocore raises ClientError subclasses; callers expect OSError
            if isinstance(exc, OSError):
                raise
            raise OSError(f"cannot read s3://{self.bucket}/{self.prefix}{key}: {exc}") from exc


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _source_rows(parts: Any) -> dict[str, int]:
    """Sum of partition rows per source; partitions that are not objects with a source are skipped."""
    out: dict[str, int] = {}
    for p in parts if isinstance(parts, list) else ():
        if isinstance(p, dict) and isinstance(p.get("source"), str):
            out[p["source"]] = out.get(p["source"], 0) + _int(p.get("rows"))
    return out


@dataclass(frozen=True)
class RunSummary:
    """One ETL run's report: what it read, stored and set aside."""

    run_id: str
    arrival_day: str | None
    engine: str | None
    started_at: datetime | None
    finished_at: datetime | None
    files_in: int
    events_in: int
    quarantined: int
    duplicates_removed: int
    events_stored: int
    rows_out: int
    late_rows: int
    max_event_time: datetime | None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    partitions: int = 0
    source_rows: dict[str, int] = field(default_factory=dict)
    """Rows the run wrote per source (from its partitions): what a user scoped to some sources may see."""

    @classmethod
    def from_report(cls, data: dict[str, Any], run_id: str) -> RunSummary:
        """Build from a report dict; missing counts read as 0, missing times as None."""
        reasons = data.get("quarantine_reasons")
        parts = data.get("partitions")
        return cls(
            run_id=str(data.get("run_id") or run_id),
            arrival_day=data.get("arrival_day"),
            engine=data.get("engine"),
            started_at=_parse_time(data.get("started_at")),
            finished_at=_parse_time(data.get("finished_at")),
            files_in=_int(data.get("files_in")),
            events_in=_int(data.get("events_in")),
            quarantined=_int(data.get("quarantined")),
            duplicates_removed=_int(data.get("duplicates_removed")),
            events_stored=_int(data.get("events_stored")),
            rows_out=_int(data.get("rows_out")),
            late_rows=_int(data.get("late_rows")),
            max_event_time=_parse_time(data.get("max_event_time")),
            quarantine_reasons=(
                {str(k): _int(v) for k, v in reasons.items()} if isinstance(reasons, dict) else {}
            ),
            partitions=len(parts) if isinstance(parts, list) else 0,
            source_rows=_source_rows(parts),
        )


@dataclass(frozen=True)
class QuarantinedRecord:
    """One record the ETL could not store, with the reason and where it came from."""

    run_id: str
    file: str | None
    line: int | None
    reason: str
    message: str | None
    raw: str | None


@dataclass(frozen=True)
class Freshness:
    """How current the stored data is: newest event time and newest finished run."""

    events_up_to: datetime | None
    last_run_id: str | None
    last_run_finished: datetime | None
    runs: int


@dataclass
class RunStore:
    """Reads run reports and quarantine files through a `Storage`; `problems` lists files it had to skip."""

    storage: Storage
    problems: list[str] = field(default_factory=list)

    def _problem(self, text: str) -> None:
        """Note a skipped file once, however many reads (runs(), freshness()) came across it."""
        if text not in self.problems:
            self.problems.append(text)

    def _run_ids(self, prefix: str, suffix: str) -> list[str]:
        ids = [
            k[len(prefix) : -len(suffix)]
            for k in self.storage.list_keys(prefix)
            if k.endswith(suffix) and "/" not in k[len(prefix) :]
        ]
        return sorted(ids, reverse=True)

    def runs(self, limit: int | None = None) -> list[RunSummary]:
        """Run reports, newest run first (run ids sort by arrival day); unreadable reports are skipped."""
        out: list[RunSummary] = []
        for run_id in self._run_ids(layout.REPORTS_PREFIX, ".json"):
            if limit is not None and len(out) >= limit:
                break
            key = f"{layout.REPORTS_PREFIX}{run_id}.json"
            try:
                data = json.loads(self.storage.read_text(key))
            except (OSError, ValueError) as exc:
                self._problem(f"{key}: {exc}")
                continue
            if not isinstance(data, dict):
                self._problem(f"{key}: not a JSON object")
                continue
            out.append(RunSummary.from_report(data, run_id))
        return out

    def quarantine(self, run_id: str | None = None, limit: int = 1000) -> list[QuarantinedRecord]:
        """Quarantined records (of one run, or of every run newest first), at most `limit`."""
        ids = [run_id] if run_id is not None else self._run_ids(layout.QUARANTINE_PREFIX, ".jsonl")
        out: list[QuarantinedRecord] = []
        for rid in ids:
            key = f"{layout.QUARANTINE_PREFIX}{rid}.jsonl"
            try:
                text = self.storage.read_text(key)
            except OSError as exc:
                if run_id is None:
                    self._problem(f"{key}: {exc}")
                continue
            for n, line in enumerate(text.splitlines(), start=1):
                if len(out) >= limit:
                    return out
                if not line.strip():
                    continue
                try:
                    q = json.loads(line)
                except ValueError:
                    self._problem(f"{key} line {n}: not JSON")
                    continue
                if not isinstance(q, dict):
                    self._problem(f"{key} line {n}: not a JSON object")
                    continue
                out.append(
                    QuarantinedRecord(
                        run_id=str(q.get("run_id") or rid),
                        file=q.get("file"),
                        line=q.get("line") if isinstance(q.get("line"), int) else None,
                        reason=str(q.get("reason") or "unknown"),
                        message=q.get("message"),
                        raw=q.get("raw"),
                    )
                )
        return out

    def freshness(self) -> Freshness:
        """Newest event time over every run report and the newest finished run."""
        runs = self.runs()
        times = [r.max_event_time for r in runs if r.max_event_time is not None]
        finished = [r for r in runs if r.finished_at is not None]
        last = max(finished, key=lambda r: r.finished_at or datetime.min.replace(tzinfo=UTC), default=None)
        return Freshness(
            events_up_to=max(times, default=None),
            last_run_id=last.run_id if last else None,
            last_run_finished=last.finished_at if last else None,
            runs=len(runs),
        )


def store_for(location: Path | str, s3_client: Any = None) -> RunStore:
    """A RunStore for a data folder path or an `s3://bucket/prefix` URI (boto3 client made when not given).

    >>> store_for("/tmp/nowhere").storage.root.as_posix()
    '/tmp/nowhere'
    """
    text = str(location)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        if not bucket:
            raise ConfigurationError(f"AUDITLOG_RUNS_LOCATION={text!r}: expected s3://bucket[/prefix]")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return RunStore(S3Storage(s3_client, bucket, prefix))
    return RunStore(LocalStorage(text))
