"""Bloom filters over the run index files' keys, so a lookup reads only the index files that may hold its id
(and over the data files' ActorName, so an exact actor over a long range reads only the files that may hold
the name: a customer's few rows in a year of files).

A year of runs is ~370 index files (etl.layout.ENTITY_INDEX_PREFIX), each a single row group at 10K events a
day, so DuckDB reading every one for each lookup was most of a year-old correlation lookup's time
(bench/RESULTS.md). Each file's filter is built once, in a background thread, from DuckDB's own
`hash("Key")` of the file's keys, kept with the file's (mtime_ns, size, inode) and used only while the file
is unchanged. A file without a current filter (new, rewritten by a re-run, changed in the last
SETTLED_SECONDS, unreadable, or not built yet) is read as before. A Bloom filter has no false negatives, so a
file it rules out cannot hold the key: the lookup's answer is the one reading every file gives.
Memory: ~BITS_PER_KEY bits a key (about 7 MB for a year at 10K events a day, ten times that at 100K).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

import duckdb
import numpy as np

from etl import schema

BITS_PER_KEY = 10
HASHES = 7
"""About 1% false positives at 10 bits a key (k = 7 is the optimum, 10 ln 2)."""
SETTLED_SECONDS = 2.0
"""A file changed this recently may change again within one file-system timestamp tick (same mtime): no
filter is built for it until it has been unchanged this long; until then it is read."""

_StatKey = tuple[int, int, int]
_MASK32 = 0xFFFFFFFF


def _stat_key(path: str) -> _StatKey | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _settled(key: _StatKey) -> bool:
    return time.time_ns() - key[0] >= SETTLED_SECONDS * 1e9


def _positions(h1: int, h2: int, m: int) -> list[int]:
    return [(h1 + i * h2) % m for i in range(HASHES)]


class KeyFilters:
    """Per file, a Bloom filter of one column's values (the run index files' Key by default, or a data
    column such as ActorName); `may_hold` narrows a lookup's files with them."""

    def __init__(
        self, cursor: Callable[[], duckdb.DuckDBPyConnection], column: str = schema.INDEX_COLUMN_NAMES[0]
    ) -> None:
        """`cursor()` gives a DuckDB cursor (one per call, closed by the caller) to hash with; `column` is a
        VARCHAR column of the files, named by the schema (etl.schema)."""
        if column not in schema.INDEX_COLUMN_NAMES + schema.ALL_COLUMN_NAMES:
            raise ValueError(f"{column!r} is not a column of the audit table or its run index")
        self._column = column
        self._cursor = cursor
        self._filters: dict[str, tuple[_StatKey, np.ndarray | None]] = {}
        """path -> (its stat key when read, its bits; None: unreadable, always read)."""
        self._lock = threading.Lock()
        self._builder: threading.Thread | None = None
        self._stopped = False

    def _hash(self, key: str) -> int:
        cur = self._cursor()
        try:
            row = cur.execute("SELECT hash(CAST($k AS VARCHAR))", {"k": key}).fetchone()
        finally:
            cur.close()
        assert row is not None
        return int(row[0])

    def may_hold(self, paths: list[str], key: str) -> list[str]:
        """The files of `paths` that may hold `key`: those whose current filter does not rule it out and
        every file without one (a background build is started for the settled ones among them)."""
        if not paths:
            return paths
        h = self._hash(key)
        h1, h2 = h & _MASK32, (h >> 32) | 1
        keep: list[str] = []
        missing: list[str] = []
        for path in paths:
            st = _stat_key(path)
            entry = self._filters.get(path)
            if st is None or entry is None or entry[0] != st:
                keep.append(path)  # gone (the read says so), new or changed: read it
                if st is not None and _settled(st):
                    missing.append(path)
                continue
            bits = entry[1]
            if bits is None or all(bits[p >> 3] >> (p & 7) & 1 for p in _positions(h1, h2, len(bits) * 8)):
                keep.append(path)
        if missing:
            self._start(missing)
        return keep

    def _start(self, paths: list[str]) -> None:
        with self._lock:
            if self._stopped or (self._builder is not None and self._builder.is_alive()):
                return
            self._builder = threading.Thread(
                target=self.build, args=(paths,), name="auditlog-index-filters", daemon=True
            )
            self._builder.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background build to end (benchmarks and tests)."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)

    def stop(self) -> None:
        """End a background build after the file it is reading (before the backend closes its connection)."""
        self._stopped = True
        self.wait()

    def build(self, paths: Iterable[str]) -> int:
        """Build the filter of every settled file of `paths` that has no current one; how many were built.
        Stops quietly when the backend is closed."""
        built = 0
        try:
            for path in paths:
                if self._stopped:
                    break
                st = _stat_key(path)
                if st is None or not _settled(st):
                    continue
                entry = self._filters.get(path)
                if entry is not None and entry[0] == st:
                    continue
                bits = self._bits(path)
                if _stat_key(path) == st:  # not replaced while it was read
                    self._filters[path] = (st, bits)
                    built += 1
        except Exception:  # the backend closed (BackendError) or failed otherwise: lookups read the files
            return built
        return built

    def _bits(self, path: str) -> np.ndarray | None:
        cur = self._cursor()
        try:
            hashes = cur.execute(  # the column is a schema name (checked in __init__)
                f'SELECT DISTINCT hash("{self._column}") AS h FROM read_parquet($p)',  # noqa: S608
                {"p": path},
            ).fetchnumpy()["h"]
        except duckdb.Error:
            return None  # unreadable: always read, so the lookup finds and reports it
        finally:
            cur.close()
        h = np.asarray(hashes, dtype=np.uint64)
        m = max(64, -(-len(h) * BITS_PER_KEY // 64) * 64)
        h1, h2 = h & np.uint64(_MASK32), (h >> np.uint64(32)) | np.uint64(1)
        marks = np.zeros(m, dtype=bool)
        for i in range(HASHES):
            marks[(h1 + np.uint64(i) * h2) % np.uint64(m)] = True
        return np.packbits(marks, bitorder="little")

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the filters of files not in `keep` (gone from the index folder)."""
        live = set(keep)
        for path in [p for p in self._filters if p not in live]:
            self._filters.pop(path, None)
