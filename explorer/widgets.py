"""Streamlit widgets shared by pages: a record's field-level diff, a change card, links between pages."""

from __future__ import annotations

from datetime import UTC, date

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from audit_query import AuditRecord
from audit_query.diff import diff_json, summarize

from . import data
from .fmt import (
    FULL_FIELDS,
    display_value,
    entity_label,
    escape_html,
    escape_md,
    full_text,
    plural,
    pretty_json,
    time_text,
)
from .state import ENTITY_LINK_DAYS_AFTER, CorrelationView, EntityView, link_window

PAGE_SEARCH = "pages/search.py"
PAGE_ENTITY = "pages/entity.py"
PAGE_CORRELATION = "pages/correlation.py"
PAGE_ACTIVITY = "pages/activity.py"
PAGE_PIPELINE = "pages/pipeline.py"

#: Days a Correlation link covers, centred on the record's date (one request's changes are seconds apart;
#: the margin covers requests around midnight and late clocks).
CORRELATION_LINK_DAYS = 7

_MARK = {"added": "+ added", "removed": "− removed", "changed": "✎ changed", "unchanged": "unchanged"}


_PRE_STYLE = (
    "white-space:pre-wrap;overflow-wrap:anywhere;margin:0 0 0.5rem;padding:0.75rem 1rem;border-radius:0.5rem;"
    "background:rgba(172,177,195,0.15);font-family:'Source Code Pro',monospace;font-size:0.85rem"
)


def preformatted(text: str) -> None:
    """`text` whole, in a monospaced block that keeps its line breaks and indents and wraps long lines
    (pretty-printed JSON, a raw record). Not st.code: its syntax-highlighting component cost every page
    showing one about 0.7 s of browser CPU to open (bench/RESULTS.md). HTML-escaped: data stays text."""
    st.html(f'<pre style="{_PRE_STYLE}">{escape_html(text)}</pre>')


_CELL = "padding:0.25rem 0.5rem;border-bottom:1px solid rgba(49,51,63,0.1);text-align:left;vertical-align:top"


def field_table(rows: list[tuple[str, str]]) -> None:
    """Two columns, field and value, each value whole and wrapped. One HTML block, not st.table: st.table
    renders every cell as Markdown, which made a record's 20 fields about 0.2 s of browser CPU per card
    (bench/RESULTS.md). HTML-escaped: data stays text, never markup or a link."""
    body = "".join(
        f'<tr><th style="{_CELL};font-weight:600;white-space:nowrap">{escape_html(label)}</th>'
        f'<td style="{_CELL};white-space:pre-wrap;overflow-wrap:anywhere">{escape_html(value)}</td></tr>'
        for label, value in rows
    )
    st.html(f'<table style="border-collapse:collapse;width:100%;font-size:0.875rem">{body}</table>')


def _table(rows: list[dict[str, str]]) -> None:
    # st.table wraps long values (st.dataframe would cut them). It renders cells as Markdown, so every value
    # is escaped: data shows as the text it is, never as formatting, images or links made by markup.
    safe = [{k: escape_md(v) for k, v in row.items()} for row in rows]
    st.table(pd.DataFrame(safe, dtype="string"), hide_index=True)


def lazy_expander(label: str, key: str, icon: str | None = None) -> DeltaGenerator | None:
    """An expander whose content is drawn only while it is open: the container, or None when closed.

    A closed `st.expander` still sends and renders all it holds, and every element drawn costs the page
    open in the browser (bench/RESULTS.md); this one reruns the page when opened or closed instead."""
    box = st.expander(label, key=key, icon=icon, on_change="rerun")
    return box if box.open else None


def diff_view(record: AuditRecord, key: str) -> None:
    """The record's before/after field by field (added, removed, changed first; unchanged collapsed), then
    every field of the record in full on demand (a grid cell clips a long value). `key` names the
    expanders (unique per page run)."""
    _diff(record, key)
    full_record(record, key)


def full_record(record: AuditRecord, key: str) -> None:
    """An expander with every field of the record as whole, wrapped text: the grid clips long values."""
    box = lazy_expander("Every field in full", f"{key}_full", icon=":material/notes:")
    if box is None:
        return
    with box:
        field_table([(label, full_text(getattr(record, attr))) for label, attr in FULL_FIELDS])
        for label, raw in (("Before", record.Before), ("After", record.After)):
            if raw is not None:
                st.caption(label)
                preformatted(pretty_json(raw))


def _diff(record: AuditRecord, key: str) -> None:
    changes = diff_json(record.Before, record.After)
    counts = summarize(changes)
    if not changes:
        st.caption("No before/after data on this change.")
        return
    st.caption(
        f"{counts['changed']} changed · {counts['added']} added · {counts['removed']} removed · "
        f"{counts['unchanged']} unchanged"
    )
    shown = [c for c in changes if c.kind != "unchanged"]
    if shown:
        _table(
            [
                {
                    "Field": c.path,
                    "Change": _MARK[c.kind],
                    "Before": "" if c.kind == "added" else display_value(c.before),
                    "After": "" if c.kind == "removed" else display_value(c.after),
                }
                for c in shown
            ]
        )
    else:
        st.caption("No field changed.")
    same = [c for c in changes if c.kind == "unchanged"]
    if same and (box := lazy_expander(plural(len(same), "unchanged field"), f"{key}_same")) is not None:
        with box:
            field_table([(c.path, display_value(c.after)) for c in same])


def record_day(record: AuditRecord) -> date:
    """The record's event date (its `dt` partition; the timestamp's UTC date when `dt` is missing)."""
    try:
        return date.fromisoformat(record.dt)
    except (TypeError, ValueError):
        return record.Timestamp.astimezone(UTC).date()


def entity_link_params(entity_id: str, day: date) -> dict[str, str | list[str]]:
    """URL parameters of an Entity page link for `entity_id` seen on `day`: a history window around that
    day (the page's default length, within the library's max_history_days), so old records link right."""
    limit = data.client()[0].settings.max_history_days
    start, end = link_window(day, min(EntityView.DEFAULT_DAYS, limit), ENTITY_LINK_DAYS_AFTER)
    return EntityView(entity_id, start, end).to_params()


def correlation_link_params(correlation_id: str, day: date) -> dict[str, str | list[str]]:
    """URL parameters of a Correlation page link for a request seen on `day`: `CORRELATION_LINK_DAYS`
    centred on that day (within the library's max_range_days)."""
    days = min(CORRELATION_LINK_DAYS, data.client()[0].settings.max_range_days)
    start, end = link_window(day, days, (days - 1) // 2)
    return CorrelationView(correlation_id, start, end).to_params()


def entity_links(record: AuditRecord, key: str) -> None:
    """Links to the Entity page for the record's entity and its parent, and to its Correlation page; each
    carries a date window around the record's date, so a record from months ago links to its neighbours."""
    day = record_day(record)
    cols = st.columns(3)
    if record.EntityId:
        cols[0].page_link(
            PAGE_ENTITY,
            label=escape_md(f"Entity: {entity_label(record.EntityType, record.EntityId)}"),
            icon=":material/history:",
            query_params=entity_link_params(record.EntityId, day),
        )
    if record.EntityParentId:
        cols[1].page_link(
            PAGE_ENTITY,
            label=escape_md(f"Parent: {entity_label(record.EntityParentType, record.EntityParentId)}"),
            icon=":material/arrow_upward:",
            query_params=entity_link_params(record.EntityParentId, day),
        )
    if record.CorrelationId:
        cols[2].page_link(
            PAGE_CORRELATION,
            label=escape_md(f"Correlation: {record.CorrelationId}"),
            icon=":material/hub:",
            query_params=correlation_link_params(record.CorrelationId, day),
        )


def change_header(record: AuditRecord) -> str:
    """One line describing a change: time, action, entity, actor, source (markdown-safe text)."""
    actor = record.ActorName or "unknown actor"
    if record.ActorType:
        actor += f" ({record.ActorType})"
    text = (
        f"{time_text(record.Timestamp)} · {record.Action or '?'} · "
        f"{entity_label(record.EntityType, record.EntityId)} · by {actor} · {record.source}"
    )
    return escape_md(text)


def change_card(record: AuditRecord, key: str, links: bool = True) -> None:
    """A bordered card: the change's header, its diff and (optionally) links to related pages."""
    with st.container(border=True):
        st.markdown(f"**{change_header(record)}**")
        diff_view(record, key)
        if links:
            entity_links(record, key)
