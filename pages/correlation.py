"""Correlation: everything one request (correlation id) changed, across services and entities, by time."""

from __future__ import annotations

import streamlit as st

from explorer import access, data, urlstate
from explorer.fmt import records_frame
from explorer.guard import require_app
from explorer.state import CorrelationView
from explorer.widgets import change_card, escape_md

VIEW = "correlation"


def main() -> None:
    st.title("Correlation")
    v = CorrelationView.from_params(urlstate.read(VIEW))
    for problem in v.problems:
        st.warning(f"Link: {escape_md(problem)}")
    urlstate.init_widgets("_corr_applied", {"c_id": v.correlation_id or ""})
    with st.form("corr_form"):
        st.text_input("Correlation id", key="c_id", placeholder="e.g. req-04cb5e626391a567")
        submitted = st.form_submit_button("Show", type="primary", icon=":material/hub:")
    if submitted:
        urlstate.write(VIEW, CorrelationView((st.session_state["c_id"] or "").strip() or None).to_params())
        st.rerun()
    if not v.correlation_id:
        st.info(
            "Enter a correlation id (from a Search row or a service log) to see everything that request "
            "changed."
        )
        return
    dates = (v.date_from, v.date_to) if v.date_from and v.date_to else None
    with st.spinner("Reading…"):
        rows = data.guarded(lambda: data.correlation(v.correlation_id or "", dates))
    if rows is None:
        return
    access.record_read(VIEW, access.correlation_filters(v.correlation_id, dates), len(rows))
    if not rows:
        shown = escape_md(repr(v.correlation_id))
        if dates:
            st.info(
                f"Nothing found for {shown} between {dates[0]} and {dates[1]} in the sources you may read. "
                "Check the id and the dates (from=YYYY-MM-DD&to=YYYY-MM-DD in the link)."
            )
        else:
            days = data.client()[0].settings.max_range_days
            st.info(
                f"Nothing found for {shown} in the last {days} days of the sources you may read. Check the "
                "id, or add from=YYYY-MM-DD&to=YYYY-MM-DD to the link for older requests."
            )
        return
    services = sorted({r.source for r in rows})
    entities = {(r.EntityType, r.EntityId) for r in rows}
    st.caption(
        f"{len(rows)} changes to {len(entities)} entities across {len(services)} sources "
        f"({escape_md(', '.join(services))}), oldest first"
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
