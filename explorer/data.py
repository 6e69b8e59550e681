"""The explorer's data access: one cached client, cached query results keyed by (query, user scope), and
errors turned into messages. Every query goes through `audit_query`; pages call only these functions.

Results are cached with `st.cache_data` for `AUDITLOG_CACHE_TTL_SECONDS`; the user's scope is part of every
key, so two users with different scopes never share a result, and so is the data version (the last finished
run and the raw objects waiting, audit_query.tail), so new data shows at the next page view.
"""

from __future__ import annotations

import io
import json
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import fields
from datetime import date, datetime
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from audit_query import (
    AuditLogClient,
    AuditLogQuery,
    AuditQueryError,
    AuditRecord,
    BackendError,
    CountRow,
    Page,
    QuerySettings,
    QueryValidationError,
    UnreadableFile,
    filters,
    tail,
)
from audit_query.backends import backend_from_env
from audit_query.export import Format, Progress, export
from audit_query.masking import MaskedClient, MaskingRules, MaskingSettings
from audit_query.runs import RunStore, store_for
from audit_query.tail import DataVersion
from etl.errors import ConfigurationError

from .auth import LOCAL_USER, User
from .config import ExplorerSettings
from .fmt import escape_md, name_fields

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _cached(max_entries: int) -> Callable[[F], F]:
    """`st.cache_data` whose TTL is AUDITLOG_CACHE_TTL_SECONDS read when the cache is used, not at import.

    Streamlit keeps one cache per function and starts it afresh when the TTL changes, so a changed setting
    takes effect on the next call (the explorer re-reads its settings on every rerun).
    """

    def decorate(fn: F) -> F:
        made: dict[int, Callable[..., Any]] = {}

        @wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            ttl = settings().cache_ttl_seconds
            if ttl not in made:
                made[ttl] = st.cache_data(ttl=ttl, show_spinner=False, max_entries=max_entries)(fn)
            return made[ttl](*args, **kwargs)

        return cast(F, call)

    return decorate

FIELD_LABELS = {
    "date_from": "From date",
    "date_to": "Date range",
    **{f.name: f.label for f in filters.FILTERS},  # one label per row of the filter table
    "cursor": "Page link",
    "limit": "Page size",
}


def settings() -> ExplorerSettings:
    """The explorer settings (read from the environment on each call: cheap, and tests can change it)."""
    return ExplorerSettings.from_env()


@st.cache_resource(show_spinner=False)
def _client(backend: str, data_dir: str) -> AuditLogClient:
    # The explorer serves the not-yet-processed tail beside the stored rows (issue 12): locally, and on
    # Athena when AUDITLOG_RAW_S3_URI names the raw bucket. Locally the backend takes the data version this
    # page view read (_version_of), so the raw folders are listed once per view, not once more per query.
    extra: dict[str, Any] = {}
    if backend == "duckdb":
        extra["data_version"] = lambda: _version_of(data_dir)
    return AuditLogClient(
        backend_from_env(data_dir=data_dir, serve_tail=True, **extra), QuerySettings.from_env()
    )


@st.cache_resource(show_spinner=False)
def _masking_rules(path: str, mtime: float) -> MaskingRules:
    return MaskingRules.load(path)


def masking_rules() -> MaskingRules | None:
    """The masking rules file (AUDITLOG_MASKING_RULES), re-read when it changes; None when none is set."""
    path = MaskingSettings.from_env().masking_rules
    if not path:
        return None
    try:
        mtime = Path(path).stat().st_mtime
    except OSError as exc:
        raise ConfigurationError(
            f"AUDITLOG_MASKING_RULES={path!r}: cannot read it ({exc.strerror})"
        ) from None
    return _masking_rules(path, mtime)


REFRESH_KEY = "_data_refresh"


_run_versions: weakref.WeakKeyDictionary[Any, tuple[str, DataVersion]] = weakref.WeakKeyDictionary()


def data_version() -> DataVersion | None:
    """The local data's version (the last finished run and the raw objects waiting, audit_query.tail);
    None on a backend without a local data folder (there only the TTL and Refresh renew results).

    Read once per script run (it lists the raw folders: ~20 ms) and reused by every query of that run (the
    DuckDB backend's tail asks the same per-run version, _client), so a page's reads agree on one version
    and one view lists the raw folders once; the next run (any click or page view) reads it afresh."""
    s = settings()
    if s.backend != "duckdb":
        return None
    return _version_of(str(s.data_dir))


def _version_of(folder: str) -> DataVersion:
    """The data version of `folder`, read once per script run (outside one: read afresh each call)."""
    ctx = get_script_run_ctx()
    run = getattr(ctx, "parallel_coordinator", None)  # a new object at the start of every script run
    if run is None:
        return tail.data_version(folder)
    seen = _run_versions.get(run)
    if seen is not None and seen[0] == folder:
        return seen[1]
    version = tail.data_version(folder)
    _run_versions[run] = (folder, version)
    return version


def refresh_button(where: Any = None) -> None:
    """A Refresh control: the next reads of this session skip every cached result (a new key)."""
    target = where if where is not None else st
    if target.button("Refresh", icon=":material/refresh:", key="data_refresh", help="read the data again"):
        st.session_state[REFRESH_KEY] = time.time_ns()


def freshness_caption(where: Any = None) -> None:
    """'data as of HH:MM:SS UTC · N events not yet processed': locally as of the last finished run; on
    Athena with the raw bucket set (the tail served) as of the tail's listing of the raw objects; nothing on
    Athena without it (only the Glue run's table is read then)."""
    target = where if where is not None else st
    version = data_version()
    if version is not None:
        as_of = f"{version.as_of:%H:%M:%S} UTC" if version.as_of is not None else "no finished run yet"
        waiting = version.waiting_events
    else:
        s = settings()
        fresh = getattr(_client(s.backend, str(s.data_dir)).backend, "tail_freshness", None)
        found = guarded(fresh, target) if callable(fresh) else None
        if found is None:
            return
        listed_at, waiting = found
        as_of = f"{listed_at:%H:%M:%S} UTC"
    target.caption(f"data as of {as_of} · {waiting:,} event{'' if waiting == 1 else 's'} not yet processed")


def source_lag() -> tuple[dict[str, datetime], int] | None:
    """(newest stored event time per source over the last 3 event dates, raw objects waiting for a run) for
    the local data folder; None on AWS. Not cached: cheap, and it is what a user refreshes to see."""
    s = settings()
    if s.backend != "duckdb":
        return None
    version = data_version()
    assert version is not None
    return tail.stored_up_to(s.data_dir), len(version.waiting_objects)


PENDING_LABEL = "not yet processed"


def pending_ids() -> frozenset[str]:
    """The Ids of rows served from raw objects no run has processed yet (marked "not yet processed" in the
    Search grid and the Entity timeline); empty on AWS or when nothing waits."""
    s = settings()
    ids = getattr(_client(s.backend, str(s.data_dir)).backend, "tail_ids", None)
    return ids() if callable(ids) else frozenset()


def freshness_bar() -> None:
    """The freshness caption beside a Refresh button (Search and Entity put it under their title)."""
    left, right = st.columns([5, 1], vertical_alignment="center")
    freshness_caption(left)
    refresh_button(right)


def client() -> tuple[AuditLogClient, str]:
    """The client for the configured backend, masked for a user without the `pii` role, and a text naming
    both (part of every cache key, so masked and unmasked results are never shared). The key also carries
    the data version and this session's Refresh, so a finished run, a new raw object or a Refresh is never
    answered from the cache. On Athena with the raw bucket set the version is the set of raw objects
    waiting (a Glue run or a new object changes it); without it only the TTL and Refresh renew results."""
    s = settings()
    key = f"{s.backend}:{s.data_dir}" if s.backend == "duckdb" else s.backend
    raw = _client(s.backend, str(s.data_dir))
    version = data_version()
    if version is not None:
        vkey = version.key
    else:
        tail_version = getattr(raw.backend, "tail_version", None)
        vkey = (tail_version() if callable(tail_version) else None) or ""
    key += f"@{vkey}:{st.session_state.get(REFRESH_KEY, 0)}"
    rules = None if current_user().has("pii") else masking_rules()
    if rules is None:
        return raw, key
    return MaskedClient(raw, rules), f"{key}:masked"


def current_user() -> User:
    """The signed-in user (app.py's gate puts it in session state), else the local all-sources user."""
    user = st.session_state.get("user")
    return user if isinstance(user, User) else LOCAL_USER


def query_key(q: AuditLogQuery) -> str:
    """A canonical JSON text of every field of `q` (cache key; `query_from_key` rebuilds the query)."""

    def plain(v: Any) -> Any:
        if isinstance(v, Enum):
            return v.value
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        return v

    return json.dumps({f.name: plain(getattr(q, f.name)) for f in fields(q)}, sort_keys=True)


def query_from_key(key: str) -> AuditLogQuery:
    """The query `query_key` described."""
    return AuditLogQuery(**json.loads(key))


@st.cache_data(ttl=60, show_spinner=False)
def _sources(_c: AuditLogClient, ckey: str) -> list[str]:
    return _c.sources()


def allowed_sources() -> list[str]:
    """Sources with data that the current user may read."""
    c, ckey = client()
    return current_user().allowed(_sources(c, ckey))


@_cached(max_entries=500)
def _page(_c: AuditLogClient, ckey: str, qkey: str, scope: str) -> Page:
    return _c.query(query_from_key(qkey))


@_cached(max_entries=500)
def _count(_c: AuditLogClient, ckey: str, qkey: str, scope: str) -> int:
    return _c.count(query_from_key(qkey))


@_cached(max_entries=500)
def _counts(
    _c: AuditLogClient, ckey: str, qkey: str, group_by: tuple[str, ...], scope: str
) -> list[CountRow]:
    return _c.counts(query_from_key(qkey), list(group_by) if len(group_by) > 1 else group_by[0])


@_cached(max_entries=200)
def _history(
    _c: AuditLogClient,
    ckey: str,
    entity_id: str,
    children: bool,
    dates: tuple[date, date],
    sources: tuple[str, ...],
    scope: str,
) -> list[AuditRecord]:
    return _c.history(
        entity_id, include_children=children, date_from=dates[0], date_to=dates[1], sources=sources
    )


@_cached(max_entries=200)
def _correlation(
    _c: AuditLogClient,
    ckey: str,
    correlation_id: str,
    dates: tuple[date, date] | None,
    sources: tuple[str, ...],
    scope: str,
) -> list[AuditRecord]:
    start, end = dates if dates else (None, None)
    return _c.correlation(correlation_id, date_from=start, date_to=end, sources=sources)


def _scoped(q: AuditLogQuery) -> AuditLogQuery:
    user = current_user()
    denied = [s for s in q.sources if not user.allows(s)]
    if denied:
        raise QueryValidationError("sources", "scope", f"you may not read {', '.join(denied)}")
    return q


def page(q: AuditLogQuery) -> Page:
    """One page of `q` (cached per query and scope)."""
    c, ckey = client()
    return _page(c, ckey, query_key(_scoped(q)), current_user().scope_key)


def count(q: AuditLogQuery) -> int:
    """How many rows `q`'s filters match (cached)."""
    c, ckey = client()
    return _count(c, ckey, query_key(_scoped(q.first_query())), current_user().scope_key)


def counts(q: AuditLogQuery, group_by: str | Sequence[str]) -> list[CountRow]:
    """Grouped counts of `q`'s filters (cached)."""
    c, ckey = client()
    groups = (group_by,) if isinstance(group_by, str) else tuple(group_by)
    return _counts(c, ckey, query_key(_scoped(q.first_query())), groups, current_user().scope_key)


def history(entity_id: str, include_children: bool, dates: tuple[date, date]) -> list[AuditRecord]:
    """An entity's changes (and its children's) over the user's sources, newest first (cached)."""
    c, ckey = client()
    return _history(
        c, ckey, entity_id, include_children, dates, tuple(allowed_sources()), current_user().scope_key
    )


def correlation(correlation_id: str, dates: tuple[date, date] | None) -> list[AuditRecord]:
    """Every change of one correlation id over the user's sources, in time order (cached)."""
    c, ckey = client()
    return _correlation(c, ckey, correlation_id, dates, tuple(allowed_sources()), current_user().scope_key)


def warn_unreadable(*results: object, where: Any = None) -> None:
    """Show one warning naming the partitions `results` (pages, counts, histories) had to leave out because
    a stored file could not be read; nothing when every file was read."""
    found = list(dict.fromkeys(u for r in results for u in getattr(r, "unreadable", ())))
    if not found:
        return
    target = where if where is not None else st
    target.warning(
        "Some stored data could not be read and is missing from these results: "
        f"{escape_md(', '.join(u.label for u in found))}. The Pipeline page lists the files; "
        "tell the operators.",
        icon=":material/broken_image:",
    )


@_cached(max_entries=20)
def _unreadable_files(_c: AuditLogClient, ckey: str) -> list[UnreadableFile]:
    return _c.unreadable_files()  # lists and stats every stored file: cached like a query result


def unreadable_files() -> list[UnreadableFile]:
    """The stored files the engine cannot read that the current user may know of: data files of sources
    in scope; entity index files (every source) only for users with every source (cached)."""
    c, ckey = client()
    user = current_user()
    return [
        u
        for u in _unreadable_files(c, ckey)
        if (user.scopes is None if u.source is None else user.allows(u.source))
    ]


class ExportedFile(NamedTuple):
    """An export made for a download: the file, its row count and how many of its rows came from raw
    objects no run had read yet (marked NotYetProcessed; the signed manifest records the number)."""

    data: bytes
    rows: int
    not_yet_processed: int


class _FileCache:
    """The last few export files, each kept for the cache TTL. st.cache_data cannot hold them: the export
    draws its progress bar while it runs, and a cached function may not touch elements made outside it."""

    def __init__(self, size: int = 2) -> None:
        self._items: OrderedDict[tuple[str, ...], tuple[float, ExportedFile]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> ExportedFile | None:
        """The export stored under `key` within the TTL, else None."""
        with self._lock:
            item = self._items.get(key)
            if item is None or time.monotonic() - item[0] > settings().cache_ttl_seconds:
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: tuple[str, ...], exported: ExportedFile) -> None:
        """Keep `exported` under `key`, dropping the oldest file beyond the size."""
        with self._lock:
            self._items[key] = (time.monotonic(), exported)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every file."""
        with self._lock:
            self._items.clear()


_files = _FileCache()


def export_file(q: AuditLogQuery, fmt: Format, progress: Progress | None = None) -> ExportedFile:
    """Every row of `q`'s view as one file of `fmt`, its row count and its not-yet-processed rows, like
    every other read: checked against the user's scope and cached per (view, format, scope). Raises
    ExportTooLarge (the CLI line in its message) when the view has more than AUDITLOG_EXPORT_MAX_ROWS rows."""
    c, ckey = client()
    qkey = query_key(_scoped(q.first_query()))
    cap = settings().export_max_rows
    key = (ckey, qkey, fmt, str(cap), current_user().scope_key)
    hit = _files.get(key)
    if hit is not None:
        return hit
    buffer = io.BytesIO()
    result = export(c, query_from_key(qkey), fmt, buffer, max_rows=cap, progress=progress)
    exported = ExportedFile(buffer.getvalue(), result.rows, result.not_yet_processed)
    _files.put(key, exported)
    return exported


def run_store() -> RunStore | None:
    """Where the ETL's run reports are (AUDITLOG_RUNS_LOCATION or the data folder), None when unknown."""
    location = settings().runs_location
    return store_for(location) if location else None


def show_error(exc: Exception, where: Any = None) -> None:
    """Show an error as a message: a validation error names the field; nothing shows a traceback."""
    target = where if where is not None else st
    if isinstance(exc, QueryValidationError):
        label = FIELD_LABELS.get(exc.field, exc.field)
        detail = name_fields(exc.detail, FIELD_LABELS)  # "before date_from …" names the form's field
        target.error(f"**{label}**: {escape_md(detail)}", icon=":material/error:")
    elif isinstance(exc, BackendError):
        target.error(
            f"The query engine failed; try again or narrow the filters. ({escape_md(str(exc))})",
            icon=":material/cloud_off:",
        )
    elif isinstance(exc, ValueError | AuditQueryError):
        target.error(escape_md(str(exc)), icon=":material/error:")
    else:
        target.error(
            f"Something went wrong: {type(exc).__name__}. Try again; if it persists, tell the operators.",
            icon=":material/error:",
        )


def guarded(fn: Callable[[], T], where: Any = None) -> T | None:
    """Run `fn`; on an error show it with `show_error` and return None."""
    try:
        return fn()
    except Exception as exc:  # every failure becomes a message, never a traceback
        show_error(exc, where)
        return None


# --- Tamper evidence: the last verification's result (etl/verify.py writes it; never verified here) --------

CHAIN_KINDS = (
    "unreadable-manifest",
    "missing-manifest",
    "manifest-order",
    "signature",
    "unknown-key",
    "chain",
)
"""Problems of the manifest chain itself: with one of them nothing after it is proved, whatever the dates."""


@st.cache_data(show_spinner=False, max_entries=20)
def _verify_status(path: str, mtime: float) -> dict[str, Any] | None:
    from etl.verify import read_status

    return read_status(Path(path))


def verify_status() -> dict[str, Any] | None:
    """The last `auditlog verify` or Pipeline check of the data (re-read only when the file changes), or
    None when there has been none."""
    from etl.verify import VerifySettings

    location = settings().runs_location
    if not location:
        return None
    path = VerifySettings.from_env().status_path(location)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    return _verify_status(str(path), mtime)


def warn_tampered(dates: tuple[date, date], sources: Sequence[str] | None = None, where: Any = None) -> None:
    """One warning line naming the partitions (dt and source, never a path) in `dates` (and `sources`, when
    given; always only those the user may read) whose files failed the last verification."""
    status = verify_status()
    if not status or status.get("ok"):
        return
    user = current_user()
    lo, hi = dates[0].isoformat(), dates[1].isoformat()
    parts: list[str] = []
    chain = False
    for p in status["problems"]:
        if not isinstance(p, dict):
            continue
        dt, source = p.get("dt"), p.get("source")
        if isinstance(dt, str) and isinstance(source, str):
            if lo <= dt <= hi and user.allows(source) and (sources is None or source in sources):
                parts.append(f"dt={dt} source={source}")
        elif p.get("kind") in CHAIN_KINDS:
            chain = True
    parts = sorted(set(parts))
    if not parts and not chain:
        return
    what = []
    if parts:
        what.append(
            f"files of {', '.join(parts)} failed verification (changed, missing, unlisted or unreadable)"
        )
    if chain:
        what.append("the run manifest chain itself failed verification, so no date is proved unaltered")
    target = where if where is not None else st
    target.warning(
        f"Tamper check of {escape_md(str(status.get('checked_at')))}: {escape_md('; '.join(what))}. "
        "The Pipeline page or `auditlog verify` names the files; tell the operators.",
        icon=":material/gpp_bad:",
    )


def export_manifest(
    q: AuditLogQuery, fmt: Format, blob: bytes, rows: int, name: str, not_yet_processed: int | None = None
) -> bytes:
    """The signed sidecar (`<name>.manifest.json`) of an explorer download: the file's SHA-256, the filters,
    the signed-in user, the time, the run manifests the rows were read from (audit_query/export_manifest)
    and, when given, how many rows came from raw objects no run had read (ExportedFile.not_yet_processed).
    """
    from audit_query.export_manifest import export_manifest_bytes
    from etl.manifest import tree_for

    s = settings()
    location = s.runs_location
    return export_manifest_bytes(
        blob,
        name,
        rows,
        fmt,
        q.first_query(),
        user=current_user().name,
        tree=tree_for(location) if location else None,
        data_dir=str(s.data_dir) if s.backend == "duckdb" else None,
        not_yet_processed=not_yet_processed,
    )
