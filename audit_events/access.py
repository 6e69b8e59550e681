"""The explorer's own access events (DESIGN §3: actions Read and Export): who read or exported which view.

A compliance product audits its own use. Every view of audit data and every export becomes an event of the
same contract (source ``auditlog.explorer``, entity type ``AuditView``), stored through the same pipeline,
so "who exported order 100234's history last week?" is answered by a search in the explorer itself.
No Streamlit import: the explorer calls this through explorer/access.py.

>>> d = access_detail("Export", user="alice", view="entity", filters={"entity_id": "100234"}, rows=12,
...                   fmt="csv", session_id="s-1")
>>> d["entities"][0]["entity"]["id"], d["entities"][0]["entity"]["name"]
('entity-10701b0d4254b9b7', 'entity · entity_id=100234')
>>> d["entities"][0]["after"]
{'view': 'entity', 'filters': {'entity_id': '100234'}, 'rows': 12, 'format': 'csv'}
>>> recorder_from_env({"AUDITLOG_ACCESS_LOG": "off"})
NullAccessRecorder()
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError

from audit_events.contract import envelope_from_entry, make_detail, make_entity, new_event_id
from audit_events.publisher import EventPublisher
from audit_events.sink import LocalFirehoseSink
from etl.errors import AuditLogError, ConfigurationError
from etl.layout import data_dir_from_env
from etl.settings import Settings, setting

ACCESS_SOURCE = "auditlog.explorer"
ACCESS_DETAIL_TYPE = "AuditLogAccessed"
ACCESS_ENTITY_TYPE = "AuditView"
ACCESS_STREAM = "auditlog-access"
"""The name part of the raw objects the local recorder writes (so they are told apart from service events)."""
ACCESS_ACTIONS: tuple[str, ...] = ("Read", "Export")
MODES: tuple[str, ...] = ("local", "eventbridge", "off")
PAGING_KEYS: frozenset[str] = frozenset({"cursor", "direction", "limit"})
"""Filter keys left out of a view's entity id: another page of the same view is the same view."""
NAME_MAX = 240

AccessAction = Literal["Read", "Export"]


BACKEND_ENV = "AUDITLOG_BACKEND"
"""The backend's own setting (declared by ExplorerSettings.backend); it only picks the default mode here."""


class AccessLogError(AuditLogError, RuntimeError):
    """An access event could not be stored; the message says where it was going and why."""


@dataclass(frozen=True)
class AccessLogSettings(Settings):
    """Where the explorer's own access events go (`AccessLogSettings.help(name)` says what each does).

    >>> AccessLogSettings.from_env({"AUDITLOG_ACCESS_LOG": " Local "}).mode("athena")
    'local'
    >>> AccessLogSettings.from_env({"AUDITLOG_ACCESS_LOG": "kafka"})
    Traceback (most recent call last):
    ...
    etl.errors.ConfigurationError: AUDITLOG_ACCESS_LOG='kafka': use one of local, eventbridge, off
    """

    access_log: str = setting(
        "",
        "where the explorer records its own Read/Export events: `local` (raw objects under the data folder, "
        "picked up by the next ETL), `eventbridge`, or `off`",
    )
    access_event_bus: str = setting(
        "",
        "name or ARN of the EventBridge bus that receives the explorer's access events (needed for "
        "`eventbridge`)",
    )

    def __post_init__(self) -> None:
        """Normalise the values; an unknown mode raises ConfigurationError naming the variable."""
        mode = self.access_log.strip().lower()
        if mode and mode not in MODES:
            raise ConfigurationError(f"{self.variable('access_log')}={mode!r}: use one of {', '.join(MODES)}")
        object.__setattr__(self, "access_log", mode)  # frozen dataclass: normalising is done here
        object.__setattr__(self, "access_event_bus", self.access_event_bus.strip())

    def mode(self, backend: str = "duckdb") -> str:
        """The access log mode: access_log when set, else eventbridge when a bus is set, else local with the
        duckdb backend, else off."""
        if self.access_log:
            return self.access_log
        if self.access_event_bus:
            return "eventbridge"
        return "local" if backend.strip().lower() == "duckdb" else "off"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def view_entity_id(view: str, filters: Mapping[str, Any]) -> str:
    """A short stable id of a view: the view name and 16 hex digits of a digest of its filters (no paging).

    >>> view_entity_id("entity", {"entity_id": "100234"})
    'entity-10701b0d4254b9b7'
    >>> a, b = {"actor_name": "a", "cursor": "x"}, {"actor_name": "a"}
    >>> view_entity_id("search", a) == view_entity_id("search", b)
    True
    """
    kept = {k: v for k, v in filters.items() if k not in PAGING_KEYS}
    digest = hashlib.sha256(_canonical([view, kept]).encode("utf-8")).hexdigest()[:16]
    return f"{view}-{digest}"


def _one_line(value: Any) -> str:
    if isinstance(value, list | tuple):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value)
    return " ".join(text.split())


def view_summary(view: str, filters: Mapping[str, Any]) -> str:
    """A readable one-line summary of a view, at most NAME_MAX characters (control characters removed).

    >>> view_summary("search", {"date_from": "2026-11-20", "date_to": "2026-11-26", "actions": ["Update"]})
    'search · 2026-11-20..2026-11-26 · actions=Update'
    """
    parts = [view]
    start, end = filters.get("date_from"), filters.get("date_to")
    if start or end:
        parts.append(f"{start or '…'}..{end or '…'}")
    for key, value in filters.items():
        if key in ("date_from", "date_to") or key in PAGING_KEYS or value in (None, "", [], (), False):
            continue
        parts.append(f"{key}={_one_line(value)}")
    text = " · ".join(parts)
    return text if len(text) <= NAME_MAX else text[: NAME_MAX - 1] + "…"


def access_detail(
    action: AccessAction,
    *,
    user: str,
    view: str,
    filters: Mapping[str, Any],
    rows: int | None = None,
    fmt: str | None = None,
    session_id: str,
    masked: bool | None = None,
    host: str | None = None,
) -> dict[str, Any]:
    """The contract's `detail` for one access: `user` (a User actor) did `action` on `view` in `session_id`.

    `filters` must be JSON-able (dates as ISO text); it goes into `after` beside the view, the row count and
    the export format, whether personal data was masked for the reader and the host a command ran on (None
    values left out). The entity id is `view_entity_id(view, filters)`, so every
    access of one view is in that entity's history. Raises ValueError on an unknown action or empty names.
    """
    if action not in ACCESS_ACTIONS:
        raise ValueError(f"access action must be one of {', '.join(ACCESS_ACTIONS)}, got {action!r}")
    for name, value in (("user", user), ("view", view), ("session_id", session_id)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty text, got {value!r}")
    plain = json.loads(_canonical(dict(filters)))  # JSON-able now, and a copy the caller cannot change
    after: dict[str, Any] = {"view": view, "filters": plain}
    if rows is not None:
        after["rows"] = rows
    if fmt is not None:
        after["format"] = fmt
    if masked is not None:
        after["masked"] = masked
    if host is not None:
        after["host"] = host
    entity = make_entity(view_entity_id(view, plain), view_summary(view, plain), after=after)
    return make_detail(
        [entity],
        entity_type=ACCESS_ENTITY_TYPE,
        action=action,
        correlation_id=session_id,
        actor_name=user,
        actor_type="User",
        event_id=new_event_id(),
    )


def access_entry(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The PutEvents entry for an access `detail` (source auditlog.explorer, detail-type AuditLogAccessed)."""
    return {
        "Source": ACCESS_SOURCE,
        "DetailType": ACCESS_DETAIL_TYPE,
        "Detail": json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
    }


class AccessRecorder(Protocol):
    """Stores access events; `record` returns once the event is stored, else raises AccessLogError."""

    def record(self, detail: Mapping[str, Any]) -> None:
        """Store one access event (`detail` from access_detail)."""
        ...


class NullAccessRecorder:
    """Access logging switched off (AUDITLOG_ACCESS_LOG=off): records nothing."""

    enabled = False

    def record(self, detail: Mapping[str, Any]) -> None:
        """Do nothing."""

    def __repr__(self) -> str:
        return "NullAccessRecorder()"


class LocalAccessRecorder:
    """Writes each access event at once as a raw Firehose-style object under `data_dir` (local mode).

    Nothing waits in a buffer: each event is flushed (written, fsynced, renamed) before `record` returns, so
    the next local ETL run turns it into a row of source auditlog.explorer.
    """

    enabled = True

    def __init__(self, data_dir: Path | str, *, clock: Callable[[], datetime] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self.written: list[Path] = []

    def record(self, detail: Mapping[str, Any]) -> None:
        """Write one event; AccessLogError when the folder cannot be written."""
        now = self._clock()
        envelope = envelope_from_entry(access_entry(detail), now=now)
        try:
            with self._lock:
                sink = LocalFirehoseSink(self.data_dir, stream_name=ACCESS_STREAM, clock=lambda: now)
                sink.put(envelope)
                sink.close()
                self.written.extend(sink.written)
        except OSError as exc:
            raise AccessLogError(
                f"could not write the access event under {self.data_dir / 'raw'}: {exc.strerror or exc}; "
                "check that the explorer may write to AUDITLOG_DATA_DIR"
            ) from exc

    def __repr__(self) -> str:
        return f"LocalAccessRecorder({str(self.data_dir)!r})"


class EventBridgeAccessRecorder:
    """Publishes each access event to an EventBridge bus (cloud mode): the same pipeline as services use."""

    enabled = True

    def __init__(self, event_bus_name: str, client: Any = None, **publisher_options: Any) -> None:
        self.event_bus_name = event_bus_name
        try:
            self.publisher = EventPublisher(
                client, event_bus_name=event_bus_name, source=ACCESS_SOURCE, **publisher_options
            )
        except BotoCoreError as exc:  # e.g. NoRegionError: the client cannot even be made
            raise ConfigurationError(
                f"cannot make an EventBridge client for the access log: {exc}; "
                "set AWS_REGION (and credentials)"
            ) from exc

    def record(self, detail: Mapping[str, Any]) -> None:
        """Publish one event; AccessLogError with the error code when EventBridge did not accept it."""
        result = self.publisher.publish([detail], ACCESS_DETAIL_TYPE)
        if result.failed:
            failure = result.failed[0]
            why = failure.error_code
            if failure.error_message:
                why += f": {failure.error_message}"
            raise AccessLogError(
                f"EventBridge bus {self.event_bus_name!r} did not accept the access event ({why})"
            )

    def __repr__(self) -> str:
        return f"EventBridgeAccessRecorder({self.event_bus_name!r})"


def access_mode(environ: Mapping[str, str]) -> str:
    """The access log mode: AUDITLOG_ACCESS_LOG, else eventbridge when AUDITLOG_ACCESS_EVENT_BUS is set,
    else local when AUDITLOG_BACKEND is duckdb (its default), else off; ConfigurationError on an unknown one.

    >>> access_mode({}), access_mode({"AUDITLOG_BACKEND": "athena"})
    ('local', 'off')
    >>> access_mode({"AUDITLOG_BACKEND": "athena", "AUDITLOG_ACCESS_EVENT_BUS": "audit"})
    'eventbridge'
    """
    return AccessLogSettings.from_env(environ).mode(environ.get(BACKEND_ENV) or "duckdb")


def recorder_from_env(environ: Mapping[str, str], *, client: Any = None) -> AccessRecorder:
    """The recorder the settings ask for (see access_mode); `client` is an EventBridge client to use.

    local writes under AUDITLOG_DATA_DIR (default ./data); eventbridge needs AUDITLOG_ACCESS_EVENT_BUS
    (ConfigurationError otherwise).
    """
    settings = AccessLogSettings.from_env(environ)
    mode = settings.mode(environ.get(BACKEND_ENV) or "duckdb")
    if mode == "off":
        return NullAccessRecorder()
    if mode == "local":
        return LocalAccessRecorder(data_dir_from_env(environ))
    if not settings.access_event_bus:
        raise ConfigurationError(
            f"{settings.variable('access_log')}=eventbridge needs {settings.variable('access_event_bus')}, "
            "the name or ARN of the event bus that receives the explorer's access events"
        )
    return EventBridgeAccessRecorder(settings.access_event_bus, client)
