"""DuckDB over the local Parquet folder (`<data>/analytics/auditlog/dt=*/source=*/*.parquet`).

One in-memory connection is shared; a DuckDB connection is not thread-safe, so every call runs on its own
`conn.cursor()` (a new connection to the same database, the documented way to query from several threads,
as Streamlit does). Partitions are read with hive partitioning, `dt` and `source` as VARCHAR. A folder
without Parquet files yields empty results, not an error.

An entity query (history) first asks the ETL's per-run entity index (`analytics/entity_index/<run>.parquet`,
etl.layout.ENTITY_INDEX_PREFIX) which (dt, source) partitions hold the id as EntityId or EntityParentId, and
reads only those. It does so only when every run with a data file in the query's partitions has an index
file; otherwise (files from before the index existed, or written by hand) it reads every partition in range.
Nothing is cached: each query lists the folders and reads the index afresh, so an ETL re-run is seen at once.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
    probe_first_day = True

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

    def _partitions(self, query: AuditLogQuery, cap: bool) -> list[tuple[str, str, list[str]]] | None:
        """(dt, source, Parquet files) of each partition folder `query` can touch, found by walking only its
        dt= and source= folders; None when `cap` and the files would exceed MAX_LISTED_FILES."""
        parts: list[tuple[str, str, list[str]]] = []
        count = 0
        days = (query.date_to - query.date_from).days + 1
        sources = sorted(set(query.sources))
        root = os.fspath(self.root)  # plain strings: a year of partitions is ~2,000 folders per query
        for n in range(max(days, 0)):
            day = (query.date_from + timedelta(days=n)).isoformat()
            for source in sources:
                folder = os.path.join(root, f"dt={day}", f"source={source}")
                try:
                    names = os.listdir(folder)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                files = sorted(os.path.join(folder, name) for name in names if name.endswith(".parquet"))
                parts.append((day, source, files))
                count += len(files)
                if cap and count > MAX_LISTED_FILES:
                    return None
        return parts

    def _index_files(self) -> dict[str, str] | None:
        """Run id -> path of its entity index file; None when there is no index folder."""
        folder = self.data_dir / layout.ENTITY_INDEX_PREFIX
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return {e.name.removesuffix(".parquet"): e.path for e in entries if e.name.endswith(".parquet")}

    def _index_lookup(self, query: AuditLogQuery, paths: list[str]) -> set[tuple[str, str]] | None:
        """The (dt, source) pairs in `query`'s range that the entity index files `paths` name for
        `query.entity_id` (as EntityId or EntityParentId); None when an index cannot be read (e.g. a re-run
        removed it meanwhile)."""
        if not paths:
            return set()
        d = self.dialect
        listed = "[" + ", ".join(literal(path, d) for path in sorted(paths)) + "]"
        sources = ", ".join(literal(s, d) for s in sorted(set(query.sources)))
        text = (  # every value through formatter.literal
            f"SELECT DISTINCT dt, source FROM read_parquet({listed}, hive_partitioning = false)"  # noqa: S608
            f' WHERE "{schema.INDEX_COLUMN_NAMES[0]}" = {literal(query.entity_id, d)}'
            f" AND dt BETWEEN {literal(query.date_from.isoformat(), d)}"
            f" AND {literal(query.date_to.isoformat(), d)} AND source IN ({sources})"
        )
        try:
            return {(r["dt"], r["source"]) for r in self.execute(text)}
        except BackendError:
            return None

    def _entity_partitions(
        self, query: AuditLogQuery, indexed: dict[str, str]
    ) -> tuple[list[tuple[str, str, list[str]]], set[tuple[str, str]] | None]:
        """(every partition in range, the (dt, source) pairs holding `query.entity_id`, or None to read them
        all because some run with files in range has no index file or an index could not be read).

        The index files of runs from `query.date_from` on are read while the partitions are listed (DuckDB
        releases the GIL; over a year each takes 25-45 ms: ~2,000 folders, ~370 index files); runs found in
        the listing but not read yet (events dated after their arrival day) are looked up after.
        """
        early = {run for run in indexed if (day := layout.run_day(run)) and day >= query.date_from}
        with ThreadPoolExecutor(1) as pool:
            lookup = pool.submit(self._index_lookup, query, [indexed[r] for r in early])
            parts = self._partitions(query, cap=False)
            found = lookup.result()
        assert parts is not None  # not capped
        runs = {os.path.basename(f).removesuffix(".parquet") for _, _, files in parts for f in files}
        if not runs <= indexed.keys():
            return parts, None
        if found is None:  # an index file could not be read: ask only the runs with files in range
            found, early = self._index_lookup(query, [indexed[r] for r in runs]), runs
        late = self._index_lookup(query, [indexed[r] for r in runs - early])
        return parts, None if found is None or late is None else found | late

    def _files(self, query: AuditLogQuery | None) -> list[str] | None:
        """The Parquet files of the partitions `query` can touch (for an entity query, only those its entity
        index names); None (read everything) without a query or above MAX_LISTED_FILES files."""
        if query is None:
            return None
        # The index folder is listed before the data: a re-run removes its index before swapping its files
        # and puts the new one back after, so a run caught mid-swap has no index here or none readable below
        # and the query falls back to the full listing.
        indexed = self._index_files() if query.entity_id is not None else None
        if indexed:
            parts, keep = self._entity_partitions(query, indexed)
            if keep is not None:
                parts = [p for p in parts if (p[0], p[1]) in keep]
        else:
            listed = self._partitions(query, cap=query.entity_id is None)
            if listed is None:
                return None
            parts = listed
        files = [f for _, _, part_files in parts for f in part_files]
        return None if len(files) > MAX_LISTED_FILES else files

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
