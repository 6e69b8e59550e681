"""Activity: charts over the Search page's filters: events by day and source, by action, top actors."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from explorer import access, data, urlstate
from explorer.guard import require_app
from explorer.state import SearchFilters
from explorer.widgets import PAGE_SEARCH, escape_html, escape_md

VIEW = "search"  # the same filters as Search, shared through the URL and session state
TOP_ACTORS = 15


def main() -> None:
    st.title("Activity")
    params = urlstate.read(VIEW)
    f = SearchFilters.from_params(params).page_reset()
    sources = data.guarded(data.allowed_sources) or []
    chosen = [s for s in f.sources if s in sources] or sources
    start, end = f.dates()
    st.caption(
        f"Over the Search filters: {start} to {end} · sources: {escape_md(', '.join(chosen)) or 'none'}"
    )
    st.page_link(
        PAGE_SEARCH, label="Change the filters on Search", icon=":material/tune:", query_params=f.to_params()
    )
    if not sources:
        st.info("There is no data you may read yet.")
        return
    try:
        q = f.to_query(chosen)
        with st.spinner("Counting…"):
            by_day = data.counts(q, ["day", "source"])
            by_action = data.counts(q, "action")
            by_actor = data.counts(q, "actor")
    except Exception as exc:
        data.show_error(exc)
        return
    total = sum(r.count for r in by_action)
    access.record_read("activity", q, total)
    if total == 0:
        st.info(f"No events match these filters between {start} and {end}; widen the date range.")
        return
    st.metric("Events", f"{total:,}")
    # Plotly reads a subset of HTML in text (<b>, <a href>, <br>): data-derived labels are escaped.
    day_rows = [{"Day": r.key, "Source": escape_html(r.key2 or "(none)"), "Events": r.count} for r in by_day]
    fig = px.bar(day_rows, x="Day", y="Events", color="Source", title="Events by day and source")
    fig.update_xaxes(type="category")
    st.plotly_chart(fig, width="stretch", key="chart_day")
    c1, c2 = st.columns(2)
    fig = px.bar(
        [{"Action": escape_html(r.key or "(none)"), "Events": r.count} for r in by_action],
        x="Action",
        y="Events",
        color="Action",
        title="By action",
    )
    c1.plotly_chart(fig, width="stretch", key="chart_action")
    top = by_actor[:TOP_ACTORS]
    fig = px.bar(
        [{"Actor": escape_html(r.key or "(none)"), "Events": r.count} for r in reversed(top)],
        x="Events",
        y="Actor",
        orientation="h",
        title=f"Top {len(top)} actors",
    )
    fig.update_layout(height=140 + 24 * len(top))
    c2.plotly_chart(fig, width="stretch", key="chart_actor")


require_app()
main()
