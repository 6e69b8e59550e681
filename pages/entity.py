"""Entity: every change to one entity (an order, typically) and its children on a timeline, with field-level
diffs, links up to the parent and down to children, and the entity's state at a chosen moment."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from audit_query import AuditRecord
from audit_query.diff import FieldChange, diff_json, state_at
from explorer import access, data, urlstate
from explorer import state as view_state
from explorer.fmt import entity_label, plural, time_text
from explorer.guard import require_app
from explorer.palette import ACTION_COLOURS, OTHER_COLOUR
from explorer.state import EntityView
from explorer.widgets import PAGE_ENTITY, change_card, escape_md

VIEW = "entity"


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting '...-2' before '...-10' (numbers compared as numbers)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


def form(v: EntityView) -> EntityView | None:
    """The lookup form; the new view when submitted."""
    start, end = v.dates()
    urlstate.init_widgets(
        "_entity_applied",
        {
            "e_id": v.entity_id or "",
            "e_from": start,
            "e_to": end,
            "e_children": v.include_children,
        },
    )
    with st.form("entity_form"):
        c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
        c1.text_input("Entity id", key="e_id", placeholder="e.g. an order number: 100234")
        c2.date_input("From", key="e_from", format="YYYY-MM-DD")
        c3.date_input("To", key="e_to", format="YYYY-MM-DD")
        c4.checkbox("Include children", key="e_children", help="order items, payments, shipments, …")
        if not st.form_submit_button("Show history", type="primary", icon=":material/history:"):
            return None
    ss = st.session_state
    return EntityView(
        entity_id=(ss["e_id"] or "").strip() or None,
        date_from=ss["e_from"],
        date_to=ss["e_to"],
        include_children=bool(ss["e_children"]),
    )


def changed_fields(changes: list[FieldChange]) -> list[str]:
    """The paths of the fields a change added, removed or changed."""
    return [c.path for c in changes if c.kind != "unchanged"]


def fields_text(changed: list[str], most: int = 6) -> str:
    """At most `most` field names, comma-separated ("–" for none)."""
    return ", ".join(changed[:most]) + (" …" if len(changed) > most else "") or "–"




def _axis_text(t: datetime, span: timedelta) -> str:
    return t.strftime("%Y-%m-%d" if span > timedelta(days=2) else "%m-%d %H:%M")


def timeline_html(
    rows: list[AuditRecord], diffs: list[list[FieldChange]], pending: frozenset[str] = frozenset()
) -> str:
    """The timeline as plain HTML: one lane per entity, one dot per change coloured by action, hover text
    (time, action, actor, changed fields) as each dot's title. No charting library (Streamlit's HTML
    sanitiser drops SVG): it draws at once however busy the entity is. Data-derived text is HTML-escaped."""
    times = [r.Timestamp.astimezone(UTC) for r in rows]
    lo, hi = min(times), max(times)
    span = hi - lo

    def x(t: datetime) -> float:
        return 50.0 if span.total_seconds() == 0 else 1 + 98 * (t - lo).total_seconds() / span.total_seconds()

    lanes: dict[tuple[str | None, str | None], list[str]] = {}
    for r, t, changes in zip(rows, times, diffs, strict=True):
        colour = ACTION_COLOURS.get(r.Action or "", OTHER_COLOUR)
        waiting = r.Id in pending  # issue 12: served from a raw object no run has read yet
        tip = html.escape(
            ("not yet processed · " if waiting else "")
            + f"{time_text(t)} · {r.Action or '?'} · by {r.ActorName} ({r.ActorType})\n"
            f"changed: {fields_text(changed_fields(changes))}"
        )
        lanes.setdefault((r.EntityType, r.EntityId), []).append(
            f'<span title="{tip}" style="position:absolute;left:{x(t):.3f}%;top:6px;width:12px;height:12px;'
            f"border-radius:50%;background:{colour};"
            f"border:{'2px dashed black' if waiting else '1px solid white'};"
            'transform:translateX(-50%)"></span>'
        )
    label = "width:15rem;flex:none;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-size:0.8rem"
    out = ['<div class="entity-timeline" style="font-family:inherit">']
    legend = " ".join(
        f'<span style="white-space:nowrap;margin-right:1rem"><span style="color:{c}">●</span> '
        f"{html.escape(a)}</span>"
        for a, c in [*ACTION_COLOURS.items(), ("other", OTHER_COLOUR)]
        if any((r.Action or "") == a or (a == "other" and r.Action not in ACTION_COLOURS) for r in rows)
    )
    out.append(f'<div style="font-size:0.8rem;margin:0 0 0.25rem 15rem">{legend}</div>')
    for (etype, eid), dots in lanes.items():
        name = html.escape(entity_label(etype, eid))
        out.append(
            f'<div style="display:flex;align-items:center;border-bottom:1px solid rgba(49,51,63,0.1)">'
            f'<div style="{label}" title="{name}">{name}</div>'
            f'<div style="position:relative;flex:1;height:26px" role="img" '
            f'aria-label="{plural(len(dots), "change")} of {name}">{"".join(dots)}</div></div>'
        )
    ticks = [lo + span * i / 4 for i in range(5)] if span.total_seconds() else [lo]
    shift = ["0", "-50%", "-50%", "-50%", "-100%"] if len(ticks) == 5 else ["-50%"]  # ends stay inside
    marks = "".join(
        f'<span style="position:absolute;left:{x(t):.3f}%;transform:translateX({d});white-space:nowrap">'
        f"{_axis_text(t, span)}</span>"
        for t, d in zip(ticks, shift, strict=True)
    )
    out.append(
        '<div style="display:flex;font-size:0.75rem;color:rgba(49,51,63,0.6)"><div style="width:15rem;'
        f'flex:none">Time (UTC)</div><div style="position:relative;flex:1;height:1.2rem">{marks}</div></div>'
    )
    out.append("</div>")
    return "".join(out)


def timeline(rows: list[AuditRecord], diffs: list[list[FieldChange]]) -> None:
    """Draw the timeline (timeline_html) in the page; changes not yet processed get a dashed ring."""
    pending = data.pending_ids()
    st.html(timeline_html(rows, diffs, pending))
    if any(r.Id in pending for r in rows):
        st.caption(f"Dashed ring: {data.PENDING_LABEL} (served from raw objects; stored at the next run)")


def relatives(entity_id: str, rows: list[AuditRecord], dates: tuple[date, date]) -> None:
    """Links up to the parent and down to each child entity, over the same dates as this history."""
    own = [r for r in rows if r.EntityId == entity_id]
    parents = {(r.EntityParentType, r.EntityParentId) for r in own if r.EntityParentId}
    children = sorted(
        {
            (r.EntityType, r.EntityId)
            for r in rows
            if r.EntityParentId == entity_id and r.EntityId != entity_id
        },
        key=lambda k: (str(k[0]), natural_key(k[1] or "")),
    )
    if not parents and not children:
        return
    with st.container(border=True):
        for ptype, pid in sorted(parents, key=str):
            st.page_link(
                PAGE_ENTITY,
                label=escape_md(f"Up to parent {entity_label(ptype, pid)}"),
                icon=":material/arrow_upward:",
                query_params=EntityView(pid, *dates).to_params(),
            )
        if children:
            st.caption(plural(len(children), "child entity", "child entities"))
            cols = st.columns(4)
            for i, (ctype, cid) in enumerate(children):
                cols[i % 4].page_link(
                    PAGE_ENTITY,
                    label=escape_md(entity_label(ctype, cid)),
                    icon=":material/subdirectory_arrow_right:",
                    query_params=EntityView(cid or "", *dates).to_params(),
                )


def deleted_at(
    rows: list[AuditRecord], key: tuple[str | None, str | None], point: datetime
) -> datetime | None:
    """When the entity `key` was deleted, if its last change at or before `point` is a Delete."""
    own = [r for r in rows if (r.EntityType, r.EntityId) == key and r.Timestamp <= point]
    last = max(own, key=lambda r: r.Timestamp, default=None)
    return last.Timestamp if last is not None and last.Action == "Delete" else None


def state_section(v: EntityView, rows: list[AuditRecord]) -> None:
    """The state of the entity and its children at a chosen moment, rebuilt from before/after maps."""
    st.subheader("State at a point in time")
    latest = max(r.Timestamp for r in rows)
    at = v.at or latest
    urlstate.init_widgets(
        "_entity_at", {"e_at_date": at.date(), "e_at_time": at.time().replace(microsecond=0)}
    )
    c1, c2, c3 = st.columns([1, 1, 3])
    day = c1.date_input("Date (UTC)", key="e_at_date", format="YYYY-MM-DD")
    clock = c2.time_input("Time (UTC)", key="e_at_time", step=60)
    point = datetime.combine(day, clock or time(0), tzinfo=UTC)
    if v.at is None and point.replace(second=0) == latest.replace(second=0, microsecond=0):
        point = latest  # the default: the latest state, not the latest minute
    elif point != v.at:
        urlstate.write(VIEW, replace(v, at=point).to_params())
    c3.caption(f"Showing each entity as it was at {time_text(point)}.")
    for (etype, eid), s in state_at(rows, point).items():
        label = entity_label(etype, eid)
        if not s.exists:
            gone = deleted_at(rows, (etype, eid), point)
            said = f"deleted at {time_text(gone)}" if gone else "did not exist yet at that moment"
            st.markdown(f"**{escape_md(label)}**: {said}")
            continue
        with st.expander(
            escape_md(label) + (f" · as of {time_text(s.as_of)}" if s.as_of else " · before its first change")
        ):
            st.json(s.state, expanded=2)


def main() -> None:
    st.title("Entity history")
    data.freshness_bar()
    v = EntityView.from_params(urlstate.read(VIEW))
    for problem in v.problems:
        st.warning(f"Link: {escape_md(problem)}")
    new = form(v)
    if new is not None:
        urlstate.write(VIEW, new.to_params())
        st.rerun()
    if not v.entity_id:
        st.info("Enter an entity id (an order number, a user id, a SKU …) to see every change to it.")
        return
    dates = v.dates()
    with st.spinner(f"Reading the history of {escape_md(v.entity_id)}…"):
        rows = data.guarded(lambda: data.history(v.entity_id or "", v.include_children, dates))
    if rows is None:
        return
    data.warn_unreadable(rows)
    data.warn_tampered(dates)
    access.record_read(VIEW, access.entity_filters(v.entity_id, v.include_children, dates), len(rows))
    if not rows:
        max_days = data.client()[0].settings.max_history_days
        st.info(
            f"No changes to {escape_md(repr(v.entity_id))} between {dates[0]} and {dates[1]}. Check the id, "
            f"or widen the date range (up to {max_days} days)."
        )
        return
    own = [r for r in rows if r.EntityId == v.entity_id]
    kind = own[0].EntityType if own else None
    st.header(escape_md(entity_label(kind, v.entity_id)))
    if own and own[0].Action == "Delete":  # newest first: its last change deleted it
        st.badge(f"Deleted at {time_text(own[0].Timestamp)}", icon=":material/delete:", color="red")
    n_entities = len({(r.EntityType, r.EntityId) for r in rows})
    st.caption(
        f"{plural(len(rows), 'change')} to {plural(n_entities, 'entity', 'entities')} between {dates[0]} "
        f"and {dates[1]} (UTC), newest first"
    )
    relatives(v.entity_id, rows, dates)
    diffs = [diff_json(r.Before, r.After) for r in rows]
    timeline(rows, diffs)
    state_section(v, rows)
    change_list(v, rows, diffs, dates)


def change_list(
    v: EntityView, rows: list[AuditRecord], diffs: list[list[FieldChange]], dates: tuple[date, date]
) -> None:
    """The changes as a compact list (time, action, entity, actor, changed fields), one page at a time;
    selecting a row opens that change's full diff below (its Id goes into the URL as `sel`)."""
    st.subheader("Changes")
    step = view_state.ENTITY_SHOW_STEP
    pages = max(1, -(-len(rows) // step))
    index = {r.Id: i for i, r in enumerate(rows)}
    # The page belongs to one history: another entity or other dates start again (at the selected change).
    shown_for = (v.entity_id, v.include_children, dates)
    if st.session_state.get("_e_page_for") != shown_for:
        st.session_state["_e_page_for"] = shown_for
        st.session_state["e_page"] = index.get(v.selected or "", 0) // step
    number = min(st.session_state.get("e_page", 0), pages - 1)
    start = number * step
    chunk = rows[start : start + step]
    frame = pd.DataFrame(
        {
            "Time (UTC)": [r.Timestamp.astimezone(UTC).replace(tzinfo=None) for r in chunk],
            "Action": [r.Action or "?" for r in chunk],
            "Entity": [entity_label(r.EntityType, r.EntityId) for r in chunk],
            "Actor": [
                f"{r.ActorName or 'unknown'} ({r.ActorType})" if r.ActorType else r.ActorName for r in chunk
            ],
            "Changed fields": [fields_text(changed_fields(d), 8) for d in diffs[start : start + step]],
        }
    )
    frame["Time (UTC)"] = pd.to_datetime(frame["Time (UTC)"])
    pending = data.pending_ids()
    if any(r.Id in pending for r in chunk):
        frame.insert(0, "Stored", [data.PENDING_LABEL if r.Id in pending else "" for r in chunk])
    event = st.dataframe(
        frame,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key=f"e_list_{abs(hash((shown_for, number))) % 10**12}",
        width="stretch",
        column_config={
            "Time (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss.SSS"),
            "Changed fields": st.column_config.TextColumn(width="large"),
        },
    )
    c1, c2, c3 = st.columns([1, 1, 4])
    if c1.button("Previous", icon=":material/chevron_left:", disabled=number == 0, key="e_prev"):
        st.session_state["e_page"] = number - 1
        st.rerun()
    if c2.button("Next", icon=":material/chevron_right:", disabled=number >= pages - 1, key="e_next"):
        st.session_state["e_page"] = number + 1
        st.rerun()
    c3.caption(f"Changes {start + 1}–{start + len(chunk)} of {len(rows)} · page {number + 1} of {pages}")

    picked = event.selection.rows if event is not None else []
    if picked and picked[0] < len(chunk) and chunk[picked[0]].Id != v.selected:
        v = replace(v, selected=chunk[picked[0]].Id)
        urlstate.write(VIEW, v.to_params())
    record = rows[index[v.selected]] if v.selected in index else None
    if record is None:
        st.caption("Select a change to see its full before/after, field by field, and its links.")
    else:
        change_card(record, "e_sel")


require_app()
main()
