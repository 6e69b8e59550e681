"""Entity: every change to one entity (an order, typically) and its children on a timeline, with field-level
diffs, links up to the parent and down to children, and the entity's state at a chosen moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import plotly.express as px
import streamlit as st

from audit_query import AuditRecord
from audit_query.diff import diff_json, state_at, summarize
from explorer import access, data, urlstate
from explorer import state as view_state
from explorer.fmt import entity_label, time_text
from explorer.guard import require_app
from explorer.state import EntityView
from explorer.widgets import PAGE_ENTITY, change_card, escape_html, escape_md

VIEW = "entity"


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


def timeline(rows: list[AuditRecord]) -> None:
    """A plotly timeline: one lane per entity, one point per change, coloured by action."""
    points = []
    for r in rows:
        changes = diff_json(r.Before, r.After)
        counts = summarize(changes)
        changed = [c.path for c in changes if c.kind != "unchanged"]
        # Plotly reads a subset of HTML in text (<b>, <a href>, <br>): data-derived text is escaped.
        points.append(
            {
                "Time (UTC)": r.Timestamp.astimezone(UTC).replace(tzinfo=None),
                "Entity": escape_html(entity_label(r.EntityType, r.EntityId)),
                "Action": escape_html(r.Action or "?"),
                "Actor": escape_html(f"{r.ActorName} ({r.ActorType})"),
                "Fields": escape_html(", ".join(changed[:6]) + (" …" if len(changed) > 6 else "") or "–"),
                "Changed": counts["changed"] + counts["added"] + counts["removed"],
            }
        )
    lanes = list(dict.fromkeys(p["Entity"] for p in points))
    fig = px.scatter(
        points,
        x="Time (UTC)",
        y="Entity",
        color="Action",
        hover_data=["Actor", "Fields"],
        category_orders={"Entity": lanes},
        color_discrete_map={"Create": "#2e7d32", "Update": "#1565c0", "Delete": "#c62828"},
    )
    fig.update_traces(marker={"size": 12, "line": {"width": 1, "color": "white"}})
    fig.update_layout(
        height=120 + 36 * len(lanes),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        # Above the plot area, anchored at its bottom edge, so it never covers the first lane.
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        yaxis_title=None,
    )
    st.plotly_chart(fig, width="stretch", key="entity_timeline")


def relatives(entity_id: str, rows: list[AuditRecord], dates: tuple[date, date]) -> None:
    """Links up to the parent and down to each child entity, over the same dates as this history."""
    own = [r for r in rows if r.EntityId == entity_id]
    parents = {(r.EntityParentType, r.EntityParentId) for r in own if r.EntityParentId}
    children = dict.fromkeys(
        (r.EntityType, r.EntityId) for r in rows if r.EntityParentId == entity_id and r.EntityId != entity_id
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
            st.caption(f"{len(children)} child entities")
            cols = st.columns(4)
            for i, (ctype, cid) in enumerate(children):
                cols[i % 4].page_link(
                    PAGE_ENTITY,
                    label=escape_md(entity_label(ctype, cid)),
                    icon=":material/subdirectory_arrow_right:",
                    query_params=EntityView(cid or "", *dates).to_params(),
                )


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
        urlstate.write(
            VIEW, EntityView(v.entity_id, v.date_from, v.date_to, v.include_children, point).to_params()
        )
    c3.caption(f"Showing each entity as it was at {time_text(point)}.")
    for (etype, eid), s in state_at(rows, point).items():
        label = entity_label(etype, eid)
        if not s.exists:
            st.markdown(f"**{escape_md(label)}**: did not exist at that moment")
            continue
        with st.expander(
            escape_md(label) + (f" · as of {time_text(s.as_of)}" if s.as_of else " · before its first change")
        ):
            st.json(s.state, expanded=2)


def main() -> None:
    st.title("Entity history")
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
    n_entities = len({(r.EntityType, r.EntityId) for r in rows})
    st.caption(
        f"{len(rows)} changes to {n_entities} entities between {dates[0]} and {dates[1]}, newest first"
    )
    relatives(v.entity_id, rows, dates)
    timeline(rows)
    st.subheader("Changes")
    step = view_state.ENTITY_SHOW_STEP
    # How many changes are shown belongs to one history: another entity or other dates start again.
    shown_for = (v.entity_id, v.include_children, dates)
    if st.session_state.get("_e_show_for") != shown_for:
        st.session_state["_e_show_for"] = shown_for
        st.session_state["e_show"] = step
    shown = st.session_state.get("e_show", step)
    for i, r in enumerate(rows[:shown]):
        change_card(r, f"e{i}")
    if len(rows) > shown and st.button(f"Show {min(step, len(rows) - shown)} more", key="e_more"):
        st.session_state["e_show"] = shown + step
        st.rerun()
    state_section(v, rows)


require_app()
main()
