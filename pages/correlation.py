"""Correlation: everything one request (correlation id) changed, across services and entities, by time."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from explorer import access, data, urlstate
from explorer.fmt import plural, records_frame
from explorer.guard import require_app
from explorer.state import CorrelationView, today_utc
from explorer.widgets import change_card, escape_md

VIEW = "correlation"



def form(v: CorrelationView, default: tuple[date, date]) -> CorrelationView | None:
    """The lookup form (id and its own dates); the new view when submitted. Untouched default dates stay
    out of the link, so it keeps meaning "the last days" tomorrow."""
    start, end = (v.date_from or default[0], v.date_to or default[1])
    urlstate.init_widgets("_corr_applied", {"c_id": v.correlation_id or "", "c_from": start, "c_to": end})
    with st.form("corr_form"):
        c1, c2, c3 = st.columns([2, 1, 1])
        c1.text_input("Correlation id", key="c_id", placeholder="e.g. req-04cb5e626391a567")
        c2.date_input("From", key="c_from", format="YYYY-MM-DD")
        c3.date_input("To", key="c_to", format="YYYY-MM-DD")
        if not st.form_submit_button("Show", type="primary", icon=":material/hub:"):
            return None
    ss = st.session_state
    typed = (ss["c_from"], ss["c_to"])
    keep = v.date_from is not None or typed != default
    return CorrelationView(
        (ss["c_id"] or "").strip() or None, typed[0] if keep else None, typed[1] if keep else None
    )


def main() -> None:
    st.title("Correlation")
    v = CorrelationView.from_params(urlstate.read(VIEW))
    for problem in v.problems:
        st.warning(f"Link: {escape_md(problem)}")
    days = data.client()[0].settings.max_history_days  # one id: the whole history limit by default
    today = today_utc()
    default = (today - timedelta(days=days - 1), today)
    new = form(v, default)
    if new is not None:
        urlstate.write(VIEW, new.to_params())
        st.rerun()
    if not v.correlation_id:
        st.info(
            "Enter a correlation id (from a Search row or a service log) to see everything that request "
            f"changed: the last {days} days are searched; set From and To to narrow them."
        )
        return
    end = v.date_to or today  # as the library resolves a missing date
    shown_dates = (v.date_from or end - timedelta(days=days - 1), end)
    with st.spinner("Reading…"):
        rows = data.guarded(lambda: data.correlation(v.correlation_id or "", shown_dates))
    if rows is None:
        return
    access.record_read(VIEW, access.correlation_filters(v.correlation_id, shown_dates), len(rows))
    if not rows:
        st.info(
            f"Nothing found for {escape_md(repr(v.correlation_id))} between {shown_dates[0]} and "
            f"{shown_dates[1]} in the sources you may read. Check the id (it must match exactly); at most "
            f"{days} days are searched."
        )
        return
    services = sorted({r.source for r in rows})
    entities = {(r.EntityType, r.EntityId) for r in rows}
    st.caption(
        f"{plural(len(rows), 'change')} to {plural(len(entities), 'entity', 'entities')} across "
        f"{plural(len(services), 'source')} ({escape_md(', '.join(services))}) between {shown_dates[0]} and "
        f"{shown_dates[1]} (UTC), oldest first"
    )
    st.dataframe(
        records_frame(rows),
        hide_index=True,
        width="stretch",
        column_config={"Time (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss.SSS")},
    )
    for i, r in enumerate(rows):
        change_card(r, f"c{i}")


require_app()
main()
