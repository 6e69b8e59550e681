"""Athena over the Glue/Athena audit table, through pyathena (PEP 249) on a real boto3 session.

Every query runs in the configured workgroup with its output location; the backend watches each status poll
(pyathena's `on_poll` hook) and CANCELS a query (StopQueryExecution) that scans more bytes than
`athena_max_bytes_scanned` or runs longer than `athena_timeout_seconds`, raising QueryLimitExceeded.
Engine failures become BackendError carrying Athena's own message. Rows come back as dicts keyed by the
schema's column names (Athena lower-cases result column names; they are mapped back), with the same Python
types as DuckDB: `Timestamp` a naive UTC datetime, strings as str, counts as int.

Sources are discovered by listing `source=` prefixes (ListObjectsV2 with a '/' delimiter) under the most
recent `dt=` partitions of the analytics S3 location, cached for `sources_cache_seconds`.

With `serve_tail` and the `raw_s3_uri` setting, `run` adds the not-yet-processed tail (audit_query.s3_tail):
the statement runs on Athena over the stored rows and again, locally on DuckDB (the builder's Athena SQL is
also DuckDB SQL, tests/audit_query/test_sql_athena.py), over those rows and the tail's together, so order,
keyset and limit are the builder's own; counts add up.

Tested only against moto and botocore's Stubber (tests/audit_query/test_athena_backend.py): nothing here
has been run against real AWS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlparse

import boto3
from pyathena.connection import Connection
from pyathena.cursor import DictCursor
from pyathena.error import Error as PyAthenaError
from pyathena.model import AthenaQueryExecution

from etl import schema
from etl.errors import ConfigurationError

from ..errors import BackendError, QueryLimitExceeded
from ..formatter import qualified_table
from ..model import AuditLogQuery, QueryStats, changes_from_engine
from ..s3_tail import S3Tail, data_uri_of
from ..settings import QuerySettings
from .base import ROWS, Merge, ResultSet

# pyathena logs failures with `logger.exception`; without any handler, Python's last-resort handler would
# print those tracebacks on stderr. Applications that configure logging still receive the records.
logging.getLogger("pyathena").addHandler(logging.NullHandler())

#: Result column names Athena reports (lower-cased) -> the names the client reads.
_CANONICAL = {name.lower(): name for name in (*schema.ALL_COLUMN_NAMES, "count", "key", "key2")}
_TERMINAL = AthenaQueryExecution.TERMINAL_STATES


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix/"); ValueError says what a valid URI looks like.

    >>> split_s3_uri("s3://audit-bucket/analytics/auditlog")
    ('audit-bucket', 'analytics/auditlog/')
    """
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigurationError(f"{uri!r} is not an S3 location; expected s3://bucket/analytics/auditlog/")
    prefix = parsed.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return parsed.netloc, prefix


class _LimitHit(Exception):
    """Raised from the poll hook to leave pyathena's wait loop; the backend then stops the query."""


class _WatchedCursor(DictCursor):
    """pyathena's DictCursor waiting between polls with an injectable `sleep` (instant in tests)."""

    def __init__(self, *, sleep: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sleep = sleep

    def _wait_poll_interval(self) -> None:
        self._sleep(self._poll_interval)


class AthenaBackend:
    """Runs audit_query SQL on Athena (dialect "athena") and discovers sources from the S3 listing."""

    dialect = "athena"
    probe_first_day = False

    def __init__(
        self,
        settings: QuerySettings | None = None,
        *,
        region: str | None = None,
        session: boto3.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        lookback_partitions: int | None = None,
        serve_tail: bool = False,
    ) -> None:
        """`settings` names the database, table, workgroup, output location, limits and the analytics URI;
        `session` (default: a new boto3 session in `region`) supplies credentials; `clock`/`sleep` time the
        polls; source discovery lists the newest `lookback_partitions` dt partitions (default: the
        `athena_source_lookback_days` setting). No region anywhere raises ValueError saying what to set."""
        self.settings = settings or QuerySettings()
        s = self.settings
        self._table_ref = qualified_table(s.athena_database, s.athena_table)
        self._session = session or boto3.Session(region_name=region)
        self.region = region or self._session.region_name
        if not self.region:
            raise ConfigurationError(
                "the Athena backend needs an AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)"
            )
        if s.athena_output_location:
            split_s3_uri(s.athena_output_location)  # fail early on a malformed location
        self._conn: Connection[Any] | None = Connection(
            session=self._session,
            region_name=self.region,
            schema_name=s.athena_database,
            work_group=s.athena_workgroup or None,
            # "" disables pyathena's AWS_ATHENA_S3_STAGING_DIR fallback: the workgroup's location applies.
            s3_staging_dir=s.athena_output_location or "",
            poll_interval=s.athena_poll_seconds,
            kill_on_interrupt=True,
        )
        self._s3 = self._session.client("s3", region_name=self.region)
        self._clock = clock
        self._sleep = sleep
        self._lookback = lookback_partitions or s.athena_source_lookback_days
        self._lock = threading.Lock()
        self._sources: tuple[float, list[str]] | None = None
        self._tail: S3Tail | None = None
        if serve_tail and s.raw_s3_uri:
            split_s3_uri(s.raw_s3_uri)
            self._tail = S3Tail(
                s.raw_s3_uri,
                data_uri_of(s.analytics_s3_uri),
                self._s3,
                list_seconds=s.tail_list_seconds,
            )

    @property
    def athena_client(self) -> Any:
        """The boto3 Athena client pyathena calls (exposed for botocore Stubber tests)."""
        return self._connection().client

    @property
    def s3_client(self) -> Any:
        """The boto3 S3 client used for source discovery."""
        return self._s3

    def _connection(self) -> Connection[Any]:
        if self._conn is None:
            raise BackendError("the Athena backend is closed; create a new one")
        return self._conn

    def table_ref(self, query: AuditLogQuery | None = None) -> str:
        """The quoted `"database"."table"` from settings (validated Glue names)."""
        return self._table_ref

    def _limit_reason(self, execution: AthenaQueryExecution, started: float) -> str | None:
        s = self.settings
        scanned = execution.data_scanned_in_bytes or 0
        if s.athena_max_bytes_scanned and scanned > s.athena_max_bytes_scanned:
            return (
                f"it had scanned {scanned:,} bytes, over the limit of {s.athena_max_bytes_scanned:,} "
                "(setting athena_max_bytes_scanned); narrow the date range or the sources"
            )
        elapsed = self._clock() - started
        if s.athena_timeout_seconds and elapsed > s.athena_timeout_seconds:
            return (
                f"it ran for {elapsed:.0f} s, over the limit of {s.athena_timeout_seconds:g} s "
                "(setting athena_timeout_seconds); narrow the date range or the filters"
            )
        return None

    def execute(self, sql: str) -> ResultSet:
        """Run one SELECT on Athena; rows as dicts with QueryStats from the query execution.

        Raises QueryLimitExceeded (after StopQueryExecution) at a configured cutoff, BackendError when
        Athena refuses or fails the query.
        """
        started = self._clock()
        seen: list[AthenaQueryExecution] = []
        reason: list[str] = []

        def watch(execution: Any) -> None:
            seen.append(execution)
            if execution.state in _TERMINAL:
                return
            why = self._limit_reason(execution, started)
            if why:
                reason.append(why)
                raise _LimitHit(why)

        cursor = self._connection().cursor(_WatchedCursor, sleep=self._sleep, on_poll=watch)
        try:
            cursor.execute(sql)
            query_id = cursor.query_id
            rows = cursor.fetchall()
            names = [d[0] for d in cursor.description or ()]
        except _LimitHit:
            query_id = cursor.query_id
            try:
                cursor.cancel()
            except PyAthenaError as exc:
                raise BackendError(
                    f"Athena query {query_id} passed a limit and could not be stopped: {exc}"
                ) from None
            raise QueryLimitExceeded(f"Athena query {query_id} was cancelled: {reason[0]}") from None
        except PyAthenaError as exc:
            last = seen[-1] if seen else None
            detail = (last.error_message or last.state_change_reason) if last is not None else None
            what = f"Athena query {cursor.query_id}" if cursor.query_id else "Athena query"
            state = last.state if last is not None else "not started"
            raise BackendError(f"{what} failed ({state}): {detail or exc}") from None
        finally:
            cursor.close()
        canonical = {n: _CANONICAL.get(n.lower(), n) for n in names}
        # A DictCursor's rows are dicts; pyathena types fetchall() for every cursor kind.
        out = [{canonical.get(k, k): v for k, v in cast("dict[str, Any]", row).items()} for row in rows]
        final = seen[-1] if seen else None
        stats = QueryStats(
            query_id=query_id,
            state=final.state if final is not None else None,
            bytes_scanned=final.data_scanned_in_bytes if final is not None else None,
            elapsed_ms=(
                float(final.engine_execution_time_in_millis)
                if final is not None and final.engine_execution_time_in_millis is not None
                else None
            ),
        )
        return ResultSet(out, stats)

    def tail_ids(self) -> frozenset[str]:
        """The Ids of the rows served from the not-yet-processed tail right now (empty when none)."""
        return self._tail.state(self._stored_ids)[1] if self._tail is not None else frozenset()

    def tail_freshness(self) -> tuple[datetime, int] | None:
        """(When the raw objects were last listed, UTC; events waiting in them) while a tail is served (the
        explorer's freshness line), None without one (AUDITLOG_RAW_S3_URI unset)."""
        return self._tail.freshness() if self._tail is not None else None

    def tail_version(self) -> str | None:
        """Changes whenever the raw objects waiting for a Glue run do (audit_query.s3_tail.S3Tail.version);
        None without a tail."""
        return self._tail.version() if self._tail is not None else None

    def _stored_ids(self, table: Any) -> set[str]:
        """The Ids of tail `table` the Athena table already holds (one narrow query per 500 Ids, on the
        tail's dt partitions and sources only; run once per tail, when the waiting objects change)."""
        from ..formatter import identifier, literal

        ids = sorted(set(table.column("Id").to_pylist()))
        dts = sorted(set(table.column("dt").to_pylist()))
        sources = sorted(set(table.column("source").to_pylist()))
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            where = " AND ".join(
                f"{identifier(name)} IN ({', '.join(literal(v, self.dialect) for v in values)})"
                for name, values in (("dt", dts), ("source", sources), ("Id", chunk))
            )
            sql = f"SELECT DISTINCT {identifier('Id')} FROM {self._table_ref} WHERE {where}"  # noqa: S608
            found.update(str(r["Id"]) for r in self.execute(sql))
        return found

    def run(self, query: AuditLogQuery, build: Callable[[str], str], merge: Merge = ROWS) -> ResultSet:
        """Run `build(table_ref)` on Athena and, when a tail is served and waiting, combine it as `merge`
        says (see the module docstring); the stats are Athena's."""
        stored = self.execute(build(self._table_ref))
        tail_file = self._tail.state(self._stored_ids)[0] if self._tail is not None else None
        if tail_file is None:
            return stored
        import duckdb  # only where a tail is served: an Athena-only reader need not load it

        try:
            rows = _merge_tail(stored, tail_file, build, merge)
        except duckdb.Error as exc:
            raise BackendError(f"adding the not-yet-processed rows failed: {exc}") from exc
        return ResultSet(rows, stored.stats)

    def _common_prefixes(self, bucket: str, prefix: str) -> list[str]:
        found: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            found.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return found

    def list_sources(self) -> list[str]:
        """Sources under the newest dt= partitions of `analytics_s3_uri` (cached briefly) and, when the tail
        is served, those of its rows, sorted."""
        now = self._clock()
        with self._lock:
            cached = self._sources
            if cached is not None and now - cached[0] < self.settings.sources_cache_seconds:
                return self._with_tail_sources(cached[1])
        if not self.settings.analytics_s3_uri:
            raise ConfigurationError(
                "source discovery needs the table's S3 location: set AUDITLOG_ANALYTICS_S3_URI "
                "(s3://bucket/analytics/auditlog/)"
            )
        bucket, root = split_s3_uri(self.settings.analytics_s3_uri)
        try:
            days = sorted(p for p in self._common_prefixes(bucket, root + "dt=") if p.endswith("/"))
            sources: set[str] = set()
            for day in days[-self._lookback :]:
                for p in self._common_prefixes(bucket, day + "source="):
                    name = p[len(day) :].removeprefix("source=").rstrip("/")
                    if name:
                        sources.add(name)
        except Exception as exc:  # botocore ClientError / connection errors: not the caller's input
            raise BackendError(f"listing s3://{bucket}/{root} failed: {exc}") from None
        found = sorted(sources)
        with self._lock:
            self._sources = (now, found)
        return self._with_tail_sources(found)

    def _with_tail_sources(self, found: list[str]) -> list[str]:
        """`found` and the sources of the not-yet-processed tail's rows, sorted (a new source's first
        events wait in raw/ before any Glue run makes its partition)."""
        if self._tail is None:
            return list(found)
        return sorted(set(found) | self._tail.sources(self._stored_ids))

    def close(self) -> None:
        """Close the Athena connection and the S3 client."""
        conn, self._conn = self._conn, None
        if self._tail is not None:
            self._tail.close()
        if conn is not None:
            conn.close()
            self._s3.close()

    def __enter__(self) -> AthenaBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _merge_tail(
    stored: list[dict[str, Any]], tail_file: str, build: Callable[[str], str], merge: Merge
) -> list[dict[str, Any]]:
    """Athena's result `stored` with the tail's rows in `tail_file` added, on a local DuckDB (see the
    module docstring): names in the SQL are the schema's, the file path a quoted literal."""
    import duckdb

    from ..formatter import identifier, literal

    tail_ref = f"read_parquet({literal(tail_file, 'duckdb')}, hive_partitioning = false)"
    con = duckdb.connect(config={"threads": 1})
    con.execute("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")  # the Athena text's `x -> ...` (changed fields)
    try:
        if merge.kind == "rows":
            import pyarrow as pa

            fields = [pa.field(c.name, c.arrow_type) for c in schema.ALL_COLUMNS]
            columns = {c.name: [r.get(c.name) for r in stored] for c in schema.ALL_COLUMNS}
            columns["Changes"] = [  # Athena's text or struct list, as the Arrow column
                None if v is None else [dict(zip(schema.CHANGE_FIELDS, e, strict=True)) for e in v]
                for v in map(changes_from_engine, columns["Changes"])
            ]
            con.register("athena_rows", pa.table(columns, schema=pa.schema(fields)))
            cols = ", ".join(identifier(c) for c in schema.ALL_COLUMN_NAMES)
            both = f"(SELECT {cols} FROM athena_rows UNION ALL SELECT {cols} FROM {tail_ref})"  # noqa: S608
            cur = con.execute(build(both))
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        cur = con.execute(build(tail_ref))
        names = [d[0] for d in cur.description or ()]
        extra = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()
    if merge.kind == "count":
        total = sum(int(r["count"]) for r in (*stored, *extra))
        return [{"count": total}]
    sums: dict[tuple[Any, Any], int] = {}
    for r in (*stored, *extra):
        key = (r.get("key"), r.get("key2"))
        sums[key] = sums.get(key, 0) + int(r["count"])
    two = any("key2" in r for r in (*stored, *extra))

    def text(v: Any) -> tuple[bool, str]:
        return (v is None, "" if v is None else str(v))  # ASC NULLS LAST

    def order(item: tuple[tuple[Any, Any], int]) -> tuple[Any, ...]:
        (k, k2), n = item
        keys = (text(k), text(k2))
        return keys if merge.time_order else (-n, *keys)

    out: list[dict[str, Any]] = []
    for (k, k2), n in sorted(sums.items(), key=order):
        out.append({"key": k, "key2": k2, "count": n} if two else {"key": k, "count": n})
    return out


def athena_backend_from_env(environ: Mapping[str, str] | None = None, **kwargs: Any) -> AthenaBackend:
    """An AthenaBackend configured by `AUDITLOG_*` variables (QuerySettings.from_env) and AWS_REGION."""
    import os

    env = os.environ if environ is None else environ
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    return AthenaBackend(QuerySettings.from_env(env), region=region, **kwargs)
