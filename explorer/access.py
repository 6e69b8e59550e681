"""The explorer audits its own use: each view of audit data it shows (Read) and each export (Export) becomes
an access event (audit_events.access) of the signed-in user, in a random per-session correlation id.

Policy: an export whose event cannot be stored is refused (no unaudited exports), so the event is recorded
before the file is handed to the download button; a view whose Read event cannot be stored is still shown,
with a warning. A view is recorded once per session (filters and page), not on every rerun.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

import streamlit as st

from audit_events.access import (
    AccessAction,
    AccessLogError,
    AccessLogSettings,
    AccessRecorder,
    access_detail,
    recorder_from_env,
)
from audit_query import AuditLogQuery
from audit_query.masking import MaskedClient

from . import data
from .fmt import escape_md

SESSION_KEY = "_access_session_id"
RECORDED_KEY = "_access_recorded"


@st.cache_resource(show_spinner=False)
def _recorder(access_log: str | None, event_bus: str | None, backend: str, data_dir: str) -> AccessRecorder:
    env = {
        "AUDITLOG_ACCESS_LOG": access_log or "",
        "AUDITLOG_ACCESS_EVENT_BUS": event_bus or "",
        "AUDITLOG_BACKEND": backend,
        "AUDITLOG_DATA_DIR": data_dir,
    }
    return recorder_from_env(env)


def recorder() -> AccessRecorder:
    """The recorder the settings ask for (cached per settings); ValueError when they are not usable."""
    s, a = data.settings(), AccessLogSettings.from_env()
    return _recorder(a.access_log, a.access_event_bus, s.backend, str(s.data_dir))


def session_id() -> str:
    """This browser session's random id: the correlation id of all its access events."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = f"explorer-{uuid.uuid4()}"
    return str(st.session_state[SESSION_KEY])


def query_filters(q: AuditLogQuery) -> dict[str, Any]:
    """The filters of `q` that narrow the view (empty ones and the page size left out), as JSON values."""
    values: dict[str, Any] = json.loads(data.query_key(q))
    return {
        k: v
        for k, v in values.items()
        if v not in (None, [], False, "") and k != "limit" and not (k == "direction" and v == "next")
    }


def entity_filters(entity_id: str, include_children: bool, dates: tuple[date, date]) -> dict[str, Any]:
    """The Entity page's view as access-event filters.

    >>> entity_filters("100234", True, (date(2026, 11, 1), date(2026, 11, 27)))
    {'entity_id': '100234', 'include_children': True, 'date_from': '2026-11-01', 'date_to': '2026-11-27'}
    """
    return {
        "entity_id": entity_id,
        "include_children": include_children,
        "date_from": dates[0].isoformat(),
        "date_to": dates[1].isoformat(),
    }


def correlation_filters(correlation_id: str, dates: tuple[date, date] | None) -> dict[str, Any]:
    """The Correlation page's view as access-event filters (no dates: the library's default window)."""
    out: dict[str, Any] = {"correlation_id": correlation_id}
    if dates:
        out.update(date_from=dates[0].isoformat(), date_to=dates[1].isoformat())
    return out


def _filters(query_or_filters: AuditLogQuery | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(query_or_filters, AuditLogQuery):
        return query_filters(query_or_filters)
    return dict(query_or_filters)


def _record(
    action: AccessAction, view: str, filters: Mapping[str, Any], rows: int | None, fmt: str | None
) -> None:
    """Store one access event; AccessLogError whatever the reason it could not be stored."""
    try:
        detail = access_detail(
            action,
            user=data.current_user().name,
            view=view,
            filters=filters,
            rows=rows,
            fmt=fmt,
            session_id=session_id(),
            masked=isinstance(data.client()[0], MaskedClient),
        )
        recorder().record(detail)
    except AccessLogError:
        raise
    except Exception as exc:  # a misconfiguration or a client error: still "not recorded"
        raise AccessLogError(str(exc) or type(exc).__name__) from exc


def record_read(view: str, query_or_filters: AuditLogQuery | Mapping[str, Any], rows: int | None) -> bool:
    """Record that `view` with these filters (page cursor included) was shown, once per session.

    On failure the data is still shown, under a warning; False then (and it is tried again next run).
    """
    filters = _filters(query_or_filters)
    key = json.dumps([data.current_user().name, view, filters], sort_keys=True, default=str)
    done: set[str] = st.session_state.setdefault(RECORDED_KEY, set())
    if key in done:
        return True
    try:
        _record("Read", view, filters, rows, None)
    except AccessLogError as exc:
        st.warning(
            f"This view could not be recorded in the audit log: {escape_md(str(exc))}",
            icon=":material/policy:",
        )
        return False
    done.add(key)
    return True


def record_export(query: AuditLogQuery, fmt: str, rows: int) -> bool:
    """Record an export of `query`'s whole view (every page) as `fmt` with `rows` rows, before it is handed
    over; False (and an error shown) when it could not be recorded: the export must then be refused."""
    try:
        _record("Export", "search", query_filters(query.first_query()), rows, fmt)
    except AccessLogError as exc:
        st.error(
            "The export was refused because it could not be recorded in the audit log: "
            f"{escape_md(str(exc))}. Try again; if it persists, tell the operators.",
            icon=":material/policy:",
        )
        return False
    return True
