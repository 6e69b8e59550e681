"""The not-yet-processed tail on AWS: the raw Firehose objects no finished Glue run has read, as rows.

The explorer lists yesterday's and today's raw hour prefixes (ListObjectsV2), compares them with the inputs
of those days' newest run manifests (manifests/ in the analytics bucket, written last by every Glue run),
downloads the waiting objects once each (GetObject) and computes their rows with the local ETL's own steps
(audit_query.tail.tail_table: etl/sql.py and etl/rules.py, no third copy of the rules). The Athena backend
merges them with the stored rows in keyset order (infra/README.md, "Freshness on AWS", says why this and
not a raw Athena table). Tested with moto only; never run against real S3.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from audit_events.access import ACCESS_STREAM
from etl import layout
from etl.errors import ConfigurationError
from etl.manifest import MANIFESTS_PREFIX, S3Tree, parse_manifest_key

Waiting = tuple[tuple[date, tuple[str, ...]], ...]
"""Raw keys waiting for a run, grouped by arrival day (days with none left out)."""


class S3Tail:
    """The tail of the raw objects waiting in `raw_uri` (s3://raw-bucket/), judged by the run manifests
    under `data_uri` (s3://analytics-bucket/); `state()` gives its Parquet file and Ids."""

    def __init__(
        self,
        raw_uri: str,
        data_uri: str,
        client: Any,
        *,
        list_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`client` is the boto3 S3 client; one listing is reused for `list_seconds` (`clock` times it);
        `now` gives the UTC day whose raw prefixes (and the day before's) are listed."""
        self.raw = S3Tree(raw_uri, client)
        self.data = S3Tree(data_uri, client)
        self._list_seconds = list_seconds
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._inputs: dict[str, frozenset[str]] = {}  # manifest key -> raw keys it read (never rewritten)
        self._listed: tuple[float, Waiting, datetime] | None = None  # (clock, keys, UTC time listed)
        self._state: tuple[Waiting, str | None, frozenset[str], frozenset[str]] | None = None
        self._dir = tempfile.mkdtemp(prefix="auditlog-s3-tail-")

    def _covered(self, day: date, manifests: list[str]) -> frozenset[str]:
        run = layout.run_id(day)
        best: tuple[int, str] | None = None
        for key in manifests:
            parsed = parse_manifest_key(key)
            if parsed is not None and parsed[1] == run and (best is None or parsed[0] > best[0]):
                best = parsed[0], key
        if best is None:
            return frozenset()
        key = best[1]
        if key not in self._inputs:
            try:
                body = json.loads(self.data.read(key))["manifest"]
                self._inputs[key] = frozenset(str(entry["key"]) for entry in body["inputs"])
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                return frozenset()  # unreadable: every object of the day counts as waiting
        return self._inputs[key]

    def waiting(self) -> Waiting:
        """Yesterday's and today's raw keys that no finished run has read (listed at most every
        `list_seconds`); the explorer's own access objects are left out, as locally (audit_query.tail)."""
        return self._waiting()[0]

    def version(self) -> str:
        """A text that changes whenever the waiting keys do (an object lands, a run reads some): the
        explorer keys cached results on it, as on the local data version; "" when nothing waits."""
        waiting = self.waiting()
        return hashlib.sha256(repr(waiting).encode("utf-8")).hexdigest()[:16] if waiting else ""

    def freshness(self) -> tuple[datetime, int]:
        """(When the raw prefixes were last listed, UTC; records in the objects waiting then): what the
        explorer's "data as of … · N events not yet processed" line says on Athena. Counts lines as the
        local caption does (audit_query.tail.count_records), of the objects `state` downloads anyway."""
        from . import tail

        waiting, listed_at = self._waiting()
        return listed_at, tail.count_records(self._download(k) for _, keys in waiting for k in keys)

    def _waiting(self) -> tuple[Waiting, datetime]:
        started = self._clock()
        with self._lock:
            if self._listed is not None and started - self._listed[0] < self._list_seconds:
                return self._listed[1], self._listed[2]
        listed_at = self._now().astimezone(UTC)
        today = listed_at.date()
        manifests = [k for k, _ in self.data.list(MANIFESTS_PREFIX)]
        own = f"{ACCESS_STREAM}-"
        found: list[tuple[date, tuple[str, ...]]] = []
        for day in (today - timedelta(days=1), today):
            covered = self._covered(day, manifests)
            keys = tuple(
                k
                for k, _ in self.raw.list(layout.raw_day_prefix(day))
                if k.endswith(".gz") and "/hour=" in k and not k.rsplit("/", 1)[-1].startswith(own)
                and k not in covered
            )
            if keys:
                found.append((day, keys))
        waiting = tuple(found)
        with self._lock:
            self._listed = (started, waiting, listed_at)
        return waiting, listed_at

    def _download(self, key: str) -> Path:
        path = Path(self._dir, "data", key)
        if not path.exists():  # a raw object is written once: a copy never goes stale
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(self.raw.read(key))
            os.replace(tmp, path)
        return path

    def state(
        self, stored: Callable[[pa.Table], set[str]] = lambda table: set()
    ) -> tuple[str | None, frozenset[str]]:
        """(Parquet file of the current tail, its Ids), rebuilt when the waiting keys change; (None, {})
        when nothing waits. `stored(table)` names the tail's Ids already stored (a re-delivery of a stored
        event, or a run between its swap and its manifest): those rows are left out, never served twice."""
        waiting = self.waiting()
        with self._lock:
            cached = self._state
        if cached is not None and cached[0] == waiting:
            return cached[1], cached[2]
        path, ids, _ = self._build(waiting, stored)
        return path, ids

    def sources(self, stored: Callable[[pa.Table], set[str]] = lambda table: set()) -> frozenset[str]:
        """The sources of the current tail's rows (`stored` as for `state`); empty when nothing waits."""
        self.state(stored)
        with self._lock:
            cached = self._state
        return cached[3] if cached is not None else frozenset()

    def _build(
        self, waiting: Waiting, stored: Callable[[pa.Table], set[str]]
    ) -> tuple[str | None, frozenset[str], frozenset[str]]:
        """(Parquet file, Ids, sources) of the tail of `waiting`, remembered as the current state."""
        from . import tail

        root = Path(self._dir, "data")
        tables = [tail.tail_table(root, day, [self._download(k) for k in keys]) for day, keys in waiting]
        rows = [t for t in tables if t.num_rows]
        path: str | None = None
        ids: frozenset[str] = frozenset()
        sources: frozenset[str] = frozenset()
        table = pa.concat_tables(rows) if rows else None
        if table is not None and table.num_rows:
            already = stored(table)
            if already:
                kept = pc.invert(pc.is_in(table.column("Id"), value_set=pa.array(sorted(already))))
                table = table.filter(kept)
        if table is not None and table.num_rows:
            digest = hashlib.sha256(repr(waiting).encode("utf-8")).hexdigest()[:16]
            path = os.path.join(self._dir, f"tail-{digest}.parquet")
            pq.write_table(table, path)
            ids = frozenset(table.column("Id").to_pylist())
            sources = frozenset(table.column("source").to_pylist())
        keep = {k for _, keys in waiting for k in keys}
        for old in root.glob("raw/**/*.gz"):  # objects a run has read since: their rows are stored now
            if old.relative_to(root).as_posix() not in keep:
                old.unlink(missing_ok=True)
        with self._lock:
            self._state = (waiting, path, ids, sources)
        return path, ids, sources

    def close(self) -> None:
        """Remove the downloaded objects and the tail's files."""
        shutil.rmtree(self._dir, ignore_errors=True)


def data_uri_of(analytics_s3_uri: str) -> str:
    """The analytics bucket root (where manifests/ is) of the table location.

    >>> data_uri_of("s3://audit-data/analytics/auditlog/")
    's3://audit-data/'
    """
    root, sep, _ = analytics_s3_uri.partition(layout.ANALYTICS_PREFIX)
    if not sep or not root.startswith("s3://"):
        raise ConfigurationError(
            f"AUDITLOG_ANALYTICS_S3_URI={analytics_s3_uri!r}: the tail needs the table location "
            f"s3://bucket/{layout.ANALYTICS_PREFIX} (its run manifests are in s3://bucket/manifests/)"
        )
    return root
