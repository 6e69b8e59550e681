"""Activity: charts over the Search page's filters: events by day (or hour) and source, by action, by actor
type, top actors. Clicking a bar opens Search with that bar's filter added."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from explorer import access, data, urlstate
from explorer.guard import require_app
from explorer.palette import ACTION_COLOURS, OTHER_COLOUR
from explorer.state import SearchFilters
from explorer.widgets import PAGE_SEARCH, escape_html, escape_md

VIEW = "search"  # the same filters as Search, shared through the URL and session state
TOP_ACTORS = 15
#: Ranges of at most this many days are drawn by hour (a day or two in 24 bars each), longer ones by day.
HOURLY_MAX_DAYS = 2
#: Pixels per bar of the horizontal actor chart, and its least height (one actor is a bar, not a hairline).
ACTOR_BAR_PX = 28
ACTOR_CHART_MIN_PX = 260
#: Session key counting bar clicks (each generation of chart widgets follows one click).
CLICKS = "_activity_clicks"
#: Fields the caption does not list as filters (dates and sources have their own words; the rest is paging).
_NOT_FILTERS = {"range", "date_from", "date_to", "sources", "cursor", "direction", "selected", "problems"}


def active_filters(f: SearchFilters) -> list[str]:
    """'Label: value' for every filter set beyond dates and sources (whatever fields SearchFilters has)."""
    out = []
    for fld in fields(f):
        if fld.name in _NOT_FILTERS:
            continue
        value = getattr(f, fld.name)
        if value in (None, "", (), False):
            continue
        label = data.FIELD_LABELS.get(fld.name, fld.name.replace("_", " ").capitalize())
        if value is True:
            out.append(label.lower())
        else:
            shown = ", ".join(map(str, value)) if isinstance(value, tuple | list) else str(value)
            out.append(f"{label.lower()}: {shown}")
    return out


def drill_down(f: SearchFilters, chart: str, value: str) -> SearchFilters:
    """The Search view for a click on a bar of `chart` whose group value is `value`: `f` narrowed to it."""
    base = f.page_reset()
    if chart == "day":
        day = date.fromisoformat(value[:10])
        return replace(base, range="custom", date_from=day, date_to=day)
    if chart == "hour":  # "YYYY-MM-DD HH:00": Search filters by date, so the bar's day
        day = date.fromisoformat(value[:10])
        return replace(base, range="custom", date_from=day, date_to=day)
    if chart == "source":
        return replace(base, sources=(value,))
    if chart == "action":
        return replace(base, actions=(value,))
    if chart == "actor_type":
        return replace(base, actor_types=(value,))
    if chart == "actor":
        return replace(base, actor_name=value)
    raise ValueError(f"chart: {chart!r} has no drill-down")


def _clicked(event: Any) -> int | None:
    """The row index (customdata[0]) of the bar clicked in a plotly_chart selection event, or None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in points:
        custom = p.get("customdata")
        if isinstance(custom, list) and custom and isinstance(custom[0], int | float):
            return int(custom[0])
    return None


def chart(fig: Any, key: str, where: Any, f: SearchFilters, group: str, values: list[str | None]) -> None:
    """Draw `fig`, whose bars carry an index into `values` (the raw group values: data text never goes
    into the figure unescaped); a click on a bar opens Search with that bar's filter."""
    fig.update_layout(clickmode="event+select")
    # The selection stays in the widget's state: a new key after each click, so coming back to Activity
    # shows the charts instead of following the old click again.
    generation = st.session_state.get(CLICKS, 0)
    event = where.plotly_chart(
        fig, width="stretch", key=f"{key}-{generation}", on_select="rerun", selection_mode="points"
    )
    index = _clicked(event)
    value = values[index] if index is not None and 0 <= index < len(values) else None
    if value:
        st.session_state[CLICKS] = generation + 1
        target = drill_down(f, group, value)
        urlstate.write(VIEW, target.to_params())
        st.switch_page(PAGE_SEARCH, query_params=target.to_params())


def bars(
    title: str,
    labels: list[str],
    counts: list[int],
    *,
    traces: list[str] | None = None,
    colours: dict[str, str] | None = None,
    axes: tuple[str, str],
    legend: str | None = None,
    horizontal: bool = False,
) -> go.Figure:
    """A bar chart of `counts` per category `labels` (stacked by `traces` when given, one colour each), each
    bar carrying its position in the lists as customdata. Built with graph_objects: plotly.express took
    about 55 ms per chart, most of this page's server time."""
    by_trace: dict[str, tuple[list[str], list[int], list[list[int]]]] = {}
    for i, (label, count) in enumerate(zip(labels, counts, strict=True)):
        xs, ys, custom = by_trace.setdefault(traces[i] if traces else "", ([], [], []))
        xs.append(label)
        ys.append(count)
        custom.append([i])
    fig = go.Figure()
    for name, (cats, values, custom) in by_trace.items():
        colour = (colours or {}).get(name)
        fig.add_trace(
            go.Bar(
                x=values if horizontal else cats,
                y=cats if horizontal else values,
                orientation="h" if horizontal else "v",
                name=name,
                customdata=custom,
                marker={"color": colour} if colour else None,
                showlegend=bool(traces),
            )
        )
    fig.update_layout(title={"text": title}, barmode="stack", legend_title_text=legend or "")
    fig.update_xaxes(title_text=axes[0], **({} if horizontal else {"type": "category"}))
    fig.update_yaxes(title_text=axes[1], **({"type": "category"} if horizontal else {}))
    return fig


def main() -> None:
    st.title("Activity")
    params = urlstate.read(VIEW)
    f = SearchFilters.from_params(params).page_reset()
    sources = data.guarded(data.allowed_sources) or []
    chosen = list(f.search_sources(sources))  # as Search: without the explorer's own events unless asked
    start, end = f.dates()
    extra = active_filters(f)
    st.caption(
        f"Over the Search filters: {start} to {end} · sources: {escape_md(', '.join(chosen)) or 'none'}"
        + "".join(f" · {escape_md(x)}" for x in extra)
    )
    st.page_link(
        PAGE_SEARCH, label="Change the filters on Search", icon=":material/tune:", query_params=f.to_params()
    )
    if not sources:
        st.info("There is no data you may read yet.")
        return
    hourly = end - start < timedelta(days=HOURLY_MAX_DAYS)
    time_group = "hour" if hourly else "day"
    try:
        q = f.to_query(chosen)
        with st.spinner("Counting…"):
            by_time = data.counts(q, [time_group, "source"])
            by_action = data.counts(q, "action")
            by_actor_type = data.counts(q, "actor_type")
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
    st.caption("Click a bar to open Search with its filter.")
    # Plotly reads a subset of HTML in text (<b>, <a href>, <br>): data-derived labels are escaped; each bar
    # carries its row's index as customdata, for the click.
    label = "Hour (UTC)" if hourly else "Day"
    fig = bars(
        f"Events by {'hour' if hourly else 'day'} and source",
        [r.key or "" for r in by_time],
        [r.count for r in by_time],
        traces=[escape_html(r.key2 or "(none)") for r in by_time],
        axes=(label, "Events"),
        legend="Source",
    )
    chart(fig, "chart_time", st, f, time_group, [r.key for r in by_time])
    c1, c2 = st.columns(2)
    names = [escape_html(r.key or "(none)") for r in by_action]
    fig = bars(
        "By action",
        names,
        [r.count for r in by_action],
        traces=names,
        colours={
            n: ACTION_COLOURS.get(r.key or "", OTHER_COLOUR) for n, r in zip(names, by_action, strict=True)
        },
        axes=("Action", "Events"),
        legend="Action",
    )
    chart(fig, "chart_action", c1, f, "action", [r.key for r in by_action])
    fig = bars(
        "By actor type",
        [escape_html(r.key or "(none)") for r in by_actor_type],
        [r.count for r in by_actor_type],
        axes=("Actor type", "Events"),
    )
    chart(fig, "chart_actor_type", c1, f, "actor_type", [r.key for r in by_actor_type])
    top = list(reversed(by_actor[:TOP_ACTORS]))  # largest at the top of a horizontal chart
    fig = bars(
        f"Top {len(top)} actors",
        [escape_html(r.key or "(none)") for r in top],
        [r.count for r in top],
        axes=("Events", "Actor"),
        horizontal=True,
    )
    fig.update_layout(height=max(ACTOR_CHART_MIN_PX, 140 + ACTOR_BAR_PX * len(top)))
    chart(fig, "chart_actor", c2, f, "actor", [r.key for r in top])


require_app()
main()
