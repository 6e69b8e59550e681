"""DuckDB over the local Parquet folder (`<data>/analytics/auditlog/dt=*/source=*/*.parquet`).

One in-memory connection is shared; a DuckDB connection is not thread-safe, so every call runs on its own
`conn.cursor()` (a new connection to the same database, the documented way to query from several threads,
as Streamlit does). Partitions are read with hive partitioning, `dt` and `source` as VARCHAR. A folder
without Parquet files yields empty results, not an error.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from etl import layout, schema

from ..errors import BackendError
from ..formatter import identifier, literal
from ..model import AuditLogQuery, QueryStats
from ..settings import QuerySettings
from .base import ResultSet

MAX_LISTED_FILES = 2000
"""Above this many files a query reads the whole table by glob instead of a literal file list (the list
would make the SQL text megabytes long); partition pruning then comes from the dt/source predicates."""


class DuckDBBackend:
    """Runs audit_query SQL on DuckDB against the Parquet files under `data_dir`."""

    dialect = "duckdb"

    def __init__(
        self, data_dir: Path | str, *, threads: int | None = None, settings: QuerySettings | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / layout.ANALYTICS_PREFIX
        self._settings = settings or QuerySettings()
        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = int(threads)
        self._conn: duckdb.DuckDBPyConnection | None = duckdb.connect(":memory:", config=config)
        self._lock = threading.Lock()
        self._sources: tuple[float, list[str]] | None = None

    def _partition_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("dt=*/source=*") if p.is_dir()]

    def _files(self, query: AuditLogQuery | None) -> list[str] | None:
        """The Parquet files of the partitions `query` can touch, found by walking only its dt= and source=
        folders; None (read everything) without a query or when the list would exceed MAX_LISTED_FILES."""
        if query is None:
            return None
        files: list[str] = []
        days = (query.date_to - query.date_from).days + 1
        for n in range(max(days, 0)):
            day = query.date_from + timedelta(days=n)
            for source in sorted(set(query.sources)):
                folder = self.root / f"dt={day.isoformat()}" / f"source={source}"
                try:
                    files += sorted(e.path for e in os.scandir(folder) if e.name.endswith(".parquet"))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if len(files) > MAX_LISTED_FILES:
                    return None
        return files

    def table_ref(self, query: AuditLogQuery | None = None) -> str:
        """`read_parquet(...)` over the partition files `query` can touch (every file without a query), or
        an empty typed relation when there are none.

        Listing the dt=/source= folders in range ourselves prunes partitions before DuckDB opens anything: a
        glob over a year of partitions costs more than the first page's whole scan (bench/RESULTS.md).
        """
        files = self._files(query)
        if files is not None:
            listed = "[" + ", ".join(literal(f, self.dialect) for f in files) + "]"
        elif self.root.is_dir() and any(True for _ in self.root.glob("dt=*/source=*/*.parquet")):
            listed = literal(str(self.root / "**" / "*.parquet"), self.dialect)
        else:
            listed = ""
        if not listed or listed == "[]":
            cols = ", ".join(
                f"CAST(NULL AS {c.duckdb_type}) AS {identifier(c.name)}" for c in schema.ALL_COLUMNS
            )
            return f"(SELECT {cols} WHERE FALSE)"
        return (
            f"read_parquet({listed}, hive_partitioning = true, "
            "hive_types = {'dt': VARCHAR, 'source': VARCHAR})"
        )

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._conn is None:
                raise BackendError("the DuckDB backend is closed; create a new one")
            return self._conn.cursor()

    def execute(self, sql: str) -> ResultSet:
        """Run one statement on a per-call cursor; rows as dicts. DuckDB errors become BackendError."""
        cur = self._connection()
        started = time.perf_counter()
        try:
            cur.execute(sql)
            names = [d[0] for d in cur.description or ()]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except duckdb.Error as exc:
            raise BackendError(f"DuckDB query failed: {exc}") from exc
        finally:
            cur.close()
        elapsed = (time.perf_counter() - started) * 1000
        return ResultSet(rows, QueryStats(state="SUCCEEDED", elapsed_ms=elapsed))

    def list_sources(self) -> list[str]:
        """Sources with at least one partition folder, sorted; the listing is reused for a few seconds."""
        now = time.monotonic()
        cached = self._sources
        if cached is not None and now - cached[0] < self._settings.sources_cache_seconds:
            return list(cached[1])
        found = sorted({p.name.removeprefix("source=") for p in self._partition_dirs()})
        self._sources = (now, found)
        return list(found)

    def close(self) -> None:
        """Close the shared connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> DuckDBBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
