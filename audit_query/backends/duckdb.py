"""DuckDB over the local Parquet folder (`<data>/analytics/auditlog/dt=*/source=*/*.parquet`).

One in-memory connection is shared; a DuckDB connection is not thread-safe, so every call runs on its own
`conn.cursor()` (a new connection to the same database, the documented way to query from several threads,
as Streamlit does). Partitions are read with hive partitioning, `dt` and `source` as VARCHAR. A folder
without Parquet files yields empty results, not an error.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import duckdb

from etl import layout, schema

from ..errors import BackendError
from ..formatter import identifier, literal
from ..model import QueryStats
from ..settings import QuerySettings
from .base import ResultSet


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

    def _has_files(self) -> bool:
        return any(True for _ in self.root.glob("dt=*/source=*/*.parquet")) if self.root.is_dir() else False

    def table_ref(self) -> str:
        """`read_parquet(...)` over every partition file, or an empty typed relation when there are none."""
        if not self._has_files():
            cols = ", ".join(
                f"CAST(NULL AS {c.duckdb_type}) AS {identifier(c.name)}" for c in schema.ALL_COLUMNS
            )
            return f"(SELECT {cols} WHERE FALSE)"
        pattern = literal(str(self.root / "**" / "*.parquet"), self.dialect)
        return (
            f"read_parquet({pattern}, hive_partitioning = true, "
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
