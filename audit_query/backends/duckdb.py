"""DuckDB over the local Parquet folder (`<data>/analytics/auditlog/dt=*/source=*/*.parquet`).

One in-memory connection is shared; a DuckDB connection is not thread-safe, so every call runs on its own
`conn.cursor()` (a new connection to the same database, the documented way to query from several threads,
as Streamlit does). Partitions are read with hive partitioning, `dt` and `source` as VARCHAR. A folder
without Parquet files yields empty results, not an error.

An entity query (history) or a correlation lookup first asks the ETL's per-run entity index
(`analytics/entity_index/<run>.parquet`, etl.layout.ENTITY_INDEX_PREFIX) which (dt, source) partitions hold
the id as EntityId, EntityParentId or CorrelationId, and reads only those. It does so only when every run
with a data file in the query's partitions has an index file; otherwise (files from before the index existed,
or written by hand) it reads every partition in range.
Nothing about the data is cached that a change could leave stale, so an ETL re-run is seen at once: a
partition folder's listing is reused only while the folder's mtime is unchanged (a stat costs a fifth of a
listing), and a lookup skips the index files whose key filter (keyfilter.py: a Bloom filter per file, kept by
mtime, size and inode) rules its id out, reading every other one afresh; likewise a query with an exact
actor reads only the data files whose ActorName filter may hold the name (a customer's few rows in 90 days
of files). Which files proved unreadable is remembered, by mtime and size; see below.

A broken file degrades a read instead of failing it (`run`). The query is tried as built; only when DuckDB
fails does the backend look for the culprit: a listed file the error names, else each listed file read in
full. It remembers an unreadable file by path, mtime and size (a re-run that rewrites it is read again),
retries without it and reports it on the result (`ResultSet.unreadable`: dt, source and the file relative to
the data folder). An unreadable entity index file is reported the same way and its run's partitions are read
by scanning. Error messages name files relative to the data folder, never by a server path.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow.parquet as pq

from etl import layout, schema

from ..errors import BackendError
from ..formatter import identifier, literal
from ..model import AuditLogQuery, QueryStats, UnreadableFile
from ..settings import QuerySettings
from . import keyfilter
from .base import ROWS, Merge, ResultSet
from .keyfilter import KeyFilters

if TYPE_CHECKING:
    from ..tail import DataVersion

MAX_LISTED_FILES = 2000
"""Above this many files a query reads the whole table by glob instead of a literal file list (the list
would make the SQL text megabytes long); partition pruning then comes from the dt/source predicates."""

MAX_ATTEMPTS = 8
"""How many times one read is tried: each retry leaves out the unreadable files the last failure revealed, or
lists again when a file it named was replaced meanwhile (an ETL re-run swapping its files)."""

_NOT_A_FILE_PROBLEM = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.NotImplementedException,
    duckdb.InterruptException,
)
"""DuckDB errors that come from the SQL text, not from a file: raised at once, no file is checked."""


def _may_be_a_broken_file(error: duckdb.Error) -> bool:
    """Whether `error` is of the kinds a truncated or corrupt Parquet file raises (DuckDB 2.0.1:
    InvalidInputException for a bad footer, IOException for a short read, a bare duckdb.Error for a bad
    page header or Thrift data); only these make the backend read each listed file to find the culprit."""
    return type(error) is duckdb.Error or isinstance(error, duckdb.IOException | duckdb.InvalidInputException)


_StatKey = tuple[int, int]


def _index_key(query: AuditLogQuery) -> str | None:
    """The id the run index narrows `query` by: its entity id, else its correlation id (None: no lookup)."""
    return query.entity_id if query.entity_id is not None else query.correlation_id


@dataclass(frozen=True)
class _Tail:
    """The not-yet-processed tail as served: its Parquet file (None when it has no rows), Ids and sources."""

    path: str | None
    ids: frozenset[str]
    sources: frozenset[str]


_NO_TAIL = _Tail(None, frozenset(), frozenset())


class DuckDBBackend:
    """Runs audit_query SQL on DuckDB against the Parquet files under `data_dir`."""

    dialect = "duckdb"
    probe_first_day = True

    def __init__(
        self,
        data_dir: Path | str,
        *,
        threads: int | None = None,
        settings: QuerySettings | None = None,
        serve_tail: bool = False,
        data_version: Callable[[], DataVersion] | None = None,
    ) -> None:
        """`serve_tail` serves the not-yet-processed tail beside the stored rows; `data_version` gives the
        folder's current version (default: audit_query.tail.data_version, which lists the raw folders): the
        explorer passes the one it reads once per page view, so a view lists them once."""
        self.data_dir = Path(data_dir)
        self.serve_tail = serve_tail
        """Serve the not-yet-processed tail (audit_query.tail) beside the stored rows (the explorer does)."""
        self._data_version = data_version
        self._tail: tuple[str, _Tail] | None = None  # (data version key, the tail it gave)
        self._tail_dir: str | None = None
        self.root = self.data_dir / layout.ANALYTICS_PREFIX
        self._settings = settings or QuerySettings()
        config: dict[str, Any] = {}
        if threads is not None:
            config["threads"] = int(threads)
        self._conn: duckdb.DuckDBPyConnection | None = duckdb.connect(":memory:", config=config)
        self._lock = threading.Lock()
        self._sources: tuple[float, list[str]] | None = None
        # path -> (mtime_ns, size) when read in full without error / (mtime_ns, size, engine's reason)
        self._readable: dict[str, _StatKey] = {}
        self._unreadable: dict[str, tuple[_StatKey, str]] = {}
        self._footers: dict[str, tuple[_StatKey, str | None]] = {}
        self._older_files: bool | None = None  # some data file lacks a column (written before it existed)
        self._complete: dict[str, bool] = {}  # data file -> whether it holds every schema column
        self._listings: dict[str, tuple[int, list[str]]] = {}  # partition folder -> (mtime_ns, its files)
        self._key_filters = KeyFilters(self._connection)
        self._actor_filters = KeyFilters(self._connection, column="ActorName")

    # -- unreadable files ------------------------------------------------------------------------------

    @staticmethod
    def _stat_key(path: str) -> _StatKey | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _public(self, text: str) -> str:
        """`text` with every path under the data folder written relative to it (no server path)."""
        bases = {os.fspath(self.data_dir.resolve()), os.path.abspath(self.data_dir)}
        for base in sorted(bases, key=len, reverse=True):
            if base != os.sep:
                text = text.replace(base + os.sep, "").replace(base, ".")
        return text

    def _describe(self, path: str, error: str) -> UnreadableFile:
        """The user-facing name of an unreadable file: relative path, and dt/source of a data file."""
        rel = os.path.relpath(path, self.data_dir).replace(os.sep, "/")
        parts = dict(p.split("=", 1) for p in rel.split("/") if p.startswith(("dt=", "source=")))
        return UnreadableFile(rel, error, parts.get("dt"), parts.get("source"))

    def _known_unreadable(self, path: str) -> str | None:
        """The remembered reason `path` cannot be read, while it is unchanged; None otherwise."""
        entry = self._unreadable.get(path)
        if entry is None:
            return None
        if self._stat_key(path) != entry[0]:
            self._unreadable.pop(path, None)  # rewritten (or gone): read it again
            return None
        return entry[1]

    def _check(self, path: str) -> str | None:
        """Read `path` in full (every column of every row group): the engine's reason when it cannot be
        read, None when it can or no longer exists. Remembered per path, mtime and size."""
        key = self._stat_key(path)
        if key is None:
            return None
        if self._readable.get(path) == key:
            return None
        known = self._known_unreadable(path)
        if known is not None:
            return known
        text = (  # the path through formatter.literal
            f"SELECT count(hash(COLUMNS(*))) FROM read_parquet({literal(path, self.dialect)}, "  # noqa: S608
            "hive_partitioning = false)"
        )
        try:
            self._execute_raw(text)
        except duckdb.Error as exc:
            if self._stat_key(path) is None or not _may_be_a_broken_file(exc):
                return None  # gone meanwhile, or a failure that says nothing about the file (memory, ...)
            reason = self._public(str(exc))
            with self._lock:
                self._unreadable[path] = (key, reason)
            return reason
        with self._lock:
            self._readable[path] = key
        return None

    def _find_unreadable(self, error: duckdb.Error, paths: list[str]) -> tuple[list[str], bool]:
        """After `error`, the files of `paths` that cannot be read, and whether one it named is gone (the
        listing is stale). A file the message names is checked first; otherwise every file is read."""
        if isinstance(error, _NOT_A_FILE_PROBLEM):
            return [], False
        message = str(error)
        named = [p for p in paths if p in message]
        gone = any(self._stat_key(p) is None for p in named)
        bad = [p for p in named if self._check(p) is not None]
        if bad or gone or not _may_be_a_broken_file(error):
            return bad, gone
        bad = [p for p in paths if self._check(p) is not None]
        return bad, any(self._stat_key(p) is None for p in paths)

    def _unreadable_in_range(self, query: AuditLogQuery) -> bool:
        """Whether a data file known to be unreadable lies in `query`'s partitions (then the query lists its
        files, whatever their number, so the file can be left out)."""
        if not self._unreadable:
            return False
        start, end, sources = query.date_from.isoformat(), query.date_to.isoformat(), set(query.sources)
        for path in list(self._unreadable):
            u = self._describe(path, "")
            if u.dt is not None and start <= u.dt <= end and u.source in sources:
                return True
        return False

    def _skip_unreadable(self, files: list[str], problems: list[UnreadableFile]) -> list[str]:
        """`files` without those known to be unreadable, which are added to `problems`."""
        if not self._unreadable:
            return files
        keep = []
        for path in files:
            reason = self._known_unreadable(path)
            if reason is None:
                keep.append(path)
            else:
                problems.append(self._describe(path, reason))
        return keep

    def unreadable_files(self) -> list[UnreadableFile]:
        """Every stored Parquet file (data and entity index) that cannot be read, sorted by file.

        Each file's footer is checked (remembered per mtime and size, so a second call only lists and
        stats); a file whose footer reads but whose data did not (found by a query) is listed too.
        """
        paths = [os.fspath(p) for p in self.root.glob("dt=*/source=*/*.parquet")]
        paths += [os.fspath(p) for p in (self.data_dir / layout.ENTITY_INDEX_PREFIX).glob("*.parquet")]
        out = []
        for path in sorted(paths):
            key = self._stat_key(path)
            if key is None:
                continue
            reason = self._known_unreadable(path)
            if reason is None:
                cached = self._footers.get(path)
                if cached is not None and cached[0] == key:
                    reason = cached[1]
                else:
                    try:
                        pq.read_metadata(path)
                    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...: all mean unreadable
                        reason = self._public(f"{type(exc).__name__}: {exc}")
                    self._footers[path] = (key, reason)
            if reason is not None:
                out.append(self._describe(path, reason))
        return out

    # -- listing ---------------------------------------------------------------------------------------

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
                files = self._folder_files(os.path.join(root, f"dt={day}", f"source={source}"))
                if files is None:
                    continue
                parts.append((day, source, files))
                count += len(files)
                if cap and count > MAX_LISTED_FILES:
                    return None
        return parts

    def _folder_files(self, folder: str) -> list[str] | None:
        """The Parquet files in partition folder `folder`, sorted; None when it does not exist. A listing is
        reused while the folder's mtime is unchanged (adding, removing or renaming a file changes it; a stat
        costs a fifth of a listing), only once that mtime is SETTLED_SECONDS old: a change within the same
        timestamp tick would leave it unchanged."""
        try:
            mtime_ns = os.stat(folder).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None
        cached = self._listings.get(folder)
        if cached is not None and cached[0] == mtime_ns:
            return cached[1]
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return None
        files = sorted(os.path.join(folder, name) for name in names if name.endswith(".parquet"))
        if time.time_ns() - mtime_ns >= keyfilter.SETTLED_SECONDS * 1e9:
            self._listings[folder] = (mtime_ns, files)
        return files

    def _index_files(self) -> dict[str, str] | None:
        """Run id -> path of its entity index file; None when there is no index folder."""
        folder = self.data_dir / layout.ENTITY_INDEX_PREFIX
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return None
        found = {e.name.removesuffix(".parquet"): e.path for e in entries if e.name.endswith(".parquet")}
        self._key_filters.forget(found.values())
        return found

    def warm_index_filters(self) -> int:
        """Build now the key filter (keyfilter.py) of every settled run index file that has none, instead of
        in the background after the first lookup (benchmarks, tests); how many were built."""
        return self._key_filters.build((self._index_files() or {}).values())

    def warm_actor_filters(self, date_from: date, date_to: date) -> int:
        """Build now the actor filter (keyfilter.py over ActorName) of every settled data file dated
        `date_from`..`date_to` that has none, instead of in the background after the first exact-actor
        lookup (benchmarks, tests); how many were built."""
        q = AuditLogQuery(date_from, date_to, tuple(self.list_sources()) or ("none",))
        parts = self._partitions(q, cap=False) or []
        return self._actor_filters.build(f for _, _, files in parts for f in files)

    def _index_lookup(self, query: AuditLogQuery, paths: list[str]) -> set[tuple[str, str]] | None:
        """The (dt, source) pairs in `query`'s range that the entity index files `paths` name for
        `query`'s index key (_index_key: its entity id, else its correlation id), leaving out index files
        that cannot be read (they are remembered; the caller scans their runs' partitions); None when an index
        went away meanwhile (a re-run replacing it) or the failure could not be pinned on a file."""
        paths = [p for p in paths if self._known_unreadable(p) is None] if self._unreadable else paths
        key = _index_key(query)
        assert key is not None
        paths = self._key_filters.may_hold(paths, key)  # the files that may hold the key (keyfilter.py)
        d = self.dialect
        sources = ", ".join(literal(s, d) for s in sorted(set(query.sources)))
        for _ in range(MAX_ATTEMPTS):
            if not paths:
                return set()
            listed = "[" + ", ".join(literal(path, d) for path in sorted(paths)) + "]"
            text = (  # every value through formatter.literal
                f"SELECT DISTINCT dt, source FROM read_parquet({listed}, hive_partitioning = false)"  # noqa: S608
                f' WHERE "{schema.INDEX_COLUMN_NAMES[0]}" = {literal(key, d)}'
                f" AND dt BETWEEN {literal(query.date_from.isoformat(), d)}"
                f" AND {literal(query.date_to.isoformat(), d)} AND source IN ({sources})"
            )
            try:
                return {(r["dt"], r["source"]) for r in self._execute_raw(text)}
            except duckdb.Error as exc:
                bad, gone = self._find_unreadable(exc, paths)
                if gone or not bad:
                    return None
                paths = [p for p in paths if p not in bad]
        return None

    def _entity_partitions(
        self, query: AuditLogQuery, indexed: dict[str, str], problems: list[UnreadableFile]
    ) -> tuple[list[tuple[str, str, list[str]]], set[tuple[str, str]] | None]:
        """(every partition in range, the (dt, source) pairs holding `query`'s index key, or None to read them
        all because some run with files in range has no readable index file or an index went away).

        The index files of runs from `query.date_from` on are read while the partitions are listed (DuckDB
        releases the GIL; over a year each takes 25-45 ms: ~2,000 folders, ~370 index files); runs found in
        the listing but not read yet (events dated after their arrival day) are looked up after. The index
        file of a run with files in range that cannot be read is added to `problems`.
        """
        early = {run for run in indexed if (day := layout.run_day(run)) and day >= query.date_from}
        with ThreadPoolExecutor(1) as pool:
            lookup = pool.submit(self._index_lookup, query, [indexed[r] for r in early])
            parts = self._partitions(query, cap=False)
            found = lookup.result()
        assert parts is not None  # not capped
        runs = {os.path.basename(f).removesuffix(".parquet") for _, _, files in parts for f in files}
        if runs <= indexed.keys():
            if found is None:  # an index file went away: ask only the runs with files in range
                found, early = self._index_lookup(query, [indexed[r] for r in runs]), runs
            late = self._index_lookup(query, [indexed[r] for r in runs - early])
            found = None if found is None or late is None else found | late
        else:
            found = None
        broken = sorted(r for r in runs & indexed.keys() if self._known_unreadable(indexed[r]) is not None)
        for run in broken:
            problems.append(self._describe(indexed[run], self._known_unreadable(indexed[run]) or ""))
        return parts, None if broken else found

    def _files(self, query: AuditLogQuery | None, problems: list[UnreadableFile]) -> list[str] | None:
        """The Parquet files of the partitions `query` can touch (for an entity query, only those its entity
        index names), leaving out those known to be unreadable (added to `problems`); None (read
        everything) without a query or above MAX_LISTED_FILES files while no file is known unreadable."""
        if query is None:
            return None
        # The index folder is listed before the data: a re-run removes its index before swapping its files
        # and puts the new one back after, so a run caught mid-swap has no index here or none readable below
        # and the query falls back to the full listing.
        indexed = self._index_files() if _index_key(query) is not None else None
        if indexed:
            parts, keep = self._entity_partitions(query, indexed, problems)
            if keep is not None:
                parts = [p for p in parts if (p[0], p[1]) in keep]
        else:
            must_list = self._unreadable_in_range(query)
            narrowed = _index_key(query) is not None or query.actor_name is not None
            listed = self._partitions(query, cap=not narrowed and not must_list)
            if listed is None:
                return None
            parts = listed
        files = self._skip_unreadable([f for _, _, part_files in parts for f in part_files], problems)
        if query.actor_name is not None:  # an exact actor: only the files whose actor filter may hold it
            files = self._actor_filters.may_hold(files, query.actor_name)
        return None if len(files) > MAX_LISTED_FILES and not problems else files

    def table_ref(self, query: AuditLogQuery | None = None) -> str:
        """`read_parquet(...)` over the partition files `query` can touch (every file without a query), or
        an empty typed relation when there are none. Files known to be unreadable are left out.

        Listing the dt=/source= folders in range ourselves prunes partitions before DuckDB opens anything: a
        glob over a year of partitions costs more than the first page's whole scan (bench/RESULTS.md).
        """
        return self._table_ref(self._files(query, []))

    def _tail_state(self) -> _Tail:
        """The current tail (its Parquet file, Ids and sources), rebuilt when the data version changes;
        empty when nothing waits or the tail is not served."""
        if not self.serve_tail:
            return _NO_TAIL
        from .. import tail

        version = self._data_version() if self._data_version is not None else tail.data_version(self.data_dir)
        with self._lock:
            cached = self._tail
        if cached is not None and cached[0] == version.key:
            return cached[1]
        table = tail.current_tail(version, self.data_dir)
        state = _NO_TAIL
        if table is not None:
            import tempfile

            if self._tail_dir is None:
                self._tail_dir = tempfile.mkdtemp(prefix="auditlog-tail-")
            path = os.path.join(self._tail_dir, f"tail-{time.time_ns()}.parquet")
            pq.write_table(table, path)
            ids = frozenset(table.column("Id").to_pylist())
            state = _Tail(path, ids, frozenset(table.column("source").to_pylist()))
        with self._lock:
            self._tail = (version.key, state)
        return state

    def tail_ids(self) -> frozenset[str]:
        """The Ids of the rows served from the not-yet-processed tail right now (empty when none)."""
        return self._tail_state().ids

    def _table_ref(self, files: list[str] | None) -> str:
        stored = self._stored_ref(files)
        tail_file = self._tail_state().path
        if tail_file is None:
            return stored
        cols = ", ".join(identifier(c) for c in schema.ALL_COLUMN_NAMES)
        tail_ref = (
            f"read_parquet({literal(tail_file, self.dialect)}, hive_partitioning = false)"
        )
        return f"(SELECT {cols} FROM {stored} UNION ALL SELECT {cols} FROM {tail_ref})"  # noqa: S608

    def _stored_ref(self, files: list[str] | None) -> str:
        if files is not None:
            listed = "[" + ", ".join(literal(f, self.dialect) for f in files) + "]"
        elif self.root.is_dir() and any(True for _ in self.root.glob("dt=*/source=*/*.parquet")):
            listed = literal(str(self.root / "**" / "*.parquet"), self.dialect)
        else:
            listed = ""
        nulls = ", ".join(
            f"CAST(NULL AS {c.duckdb_type}) AS {identifier(c.name)}" for c in schema.ALL_COLUMNS
        )
        empty = f"(SELECT {nulls} WHERE FALSE)"
        if not listed or listed == "[]":
            return empty
        hive = "hive_partitioning = true, hive_types = {'dt': VARCHAR, 'source': VARCHAR}"
        if not self._has_older_files(files):
            return f"read_parquet({listed}, {hive})"
        # Older files: columns by name, and the typed empty relation supplies a column no read file has
        # (a read of only files written before Changes existed), as NULL.
        read = f"read_parquet({listed}, {hive}, union_by_name = true)"
        return f"(SELECT * FROM {read} UNION ALL BY NAME SELECT * FROM {empty})"  # noqa: S608

    def _has_older_files(self, files: list[str] | None) -> bool:
        """Whether a file of `files` (None: every data file) predates a column of the schema (Changes): then
        the read takes columns by name (union_by_name), a missing one as NULL; union_by_name opens every
        footer of a read, so a read without older files never pays for it. Each file's footer is read once
        per backend: a file at a path can only be rewritten by the ETL, which writes every column (an older
        answer stays True: slower, not wrong). The whole-table answer is kept once found."""
        if files is None:
            if self._older_files is None:
                self._older_files = self._any_older(str(p) for p in self.root.glob("dt=*/source=*/*.parquet"))
            return self._older_files
        return self._any_older(files)

    def _any_older(self, paths: Iterable[str]) -> bool:
        wanted = set(schema.COLUMN_NAMES)
        for path in paths:
            complete = self._complete.get(path)
            if complete is None:
                try:
                    complete = wanted <= set(pq.read_schema(path).names)
                except Exception:  # noqa: BLE001, S112 (an unreadable file is the read's business, not this check's)
                    continue
                self._complete[path] = complete
            if not complete:
                return True
        return False

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._conn is None:
                raise BackendError("the DuckDB backend is closed; create a new one")
            return self._conn.cursor()

    def _execute_raw(self, sql: str) -> ResultSet:
        cur = self._connection()
        started = time.perf_counter()
        try:
            cur.execute(sql)
            names = [d[0] for d in cur.description or ()]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            cur.close()
        elapsed = (time.perf_counter() - started) * 1000
        return ResultSet(rows, QueryStats(state="SUCCEEDED", elapsed_ms=elapsed))

    def execute(self, sql: str) -> ResultSet:
        """Run one statement on a per-call cursor; rows as dicts. DuckDB errors become BackendError (paths
        in its message relative to the data folder)."""
        try:
            return self._execute_raw(sql)
        except duckdb.Error as exc:
            raise BackendError(self._public(f"DuckDB query failed: {exc}")) from exc

    def run(self, query: AuditLogQuery, build: Callable[[str], str], merge: Merge = ROWS) -> ResultSet:
        """Run `build(table_ref)` over the files `query` can touch, leaving out unreadable ones: the result's
        `unreadable` names them (`merge` is not needed: the tail is a UNION ALL inside table_ref). The first
        try is the plain query; files are checked only after a failure.
        Errors that no file explains become BackendError."""
        for _ in range(MAX_ATTEMPTS):
            problems: list[UnreadableFile] = []
            files = self._files(query, problems)
            try:
                result = self.execute(build(self._table_ref(files)))
            except BackendError as failed:
                exc = failed.__cause__
                if not isinstance(exc, duckdb.Error):
                    raise
                if files is None:  # read by glob: look among the query's partitions
                    listed = self._partitions(query, cap=False) or []
                    candidates = [f for _, _, part_files in listed for f in part_files]
                else:
                    candidates = files
                bad, gone = self._find_unreadable(exc, candidates)
                if bad or gone:
                    continue
                raise
            result.unreadable = tuple(dict.fromkeys(sorted(problems, key=lambda u: u.file)))
            return result
        raise BackendError(
            "DuckDB query failed: the data files kept changing or breaking while it ran; try again"
        )

    def list_sources(self) -> list[str]:
        """Sources with at least one partition folder (the listing is reused for a few seconds) and, when
        the tail is served, those of its rows (a new source's first events wait before any folder exists),
        sorted."""
        now = time.monotonic()
        cached = self._sources
        if cached is not None and now - cached[0] < self._settings.sources_cache_seconds:
            found = cached[1]
        else:
            found = sorted({p.name.removeprefix("source=") for p in self._partition_dirs()})
            self._sources = (now, found)
        return sorted(set(found) | self._tail_state().sources)

    def close(self) -> None:
        """Close the shared connection (and remove the tail's files)."""
        self._key_filters.stop()
        self._actor_filters.stop()
        if self._tail_dir is not None:
            import shutil

            shutil.rmtree(self._tail_dir, ignore_errors=True)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> DuckDBBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
