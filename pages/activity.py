"""Activity: charts over the Search page's filters: events by day (or hour) and source, by action, by actor
type, top actors. Clicking a bar opens Search with that bar's filter added."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from explorer import access, data, urlstate
from explorer.guard import require_app
from explorer.palette import action_colour
from explorer.state import SearchFilters
from explorer.widgets import PAGE_SEARCH, escape_md

VIEW = "search"  # the same filters as Search, shared through the URL and session state
TOP_ACTORS = 15
#: Ranges of at most this many days are drawn by hour (a day or two in 24 bars each), longer ones by day.
HOURLY_MAX_DAYS = 2
#: The horizontal actor chart: pixels per bar (each bar is this less 8 px thick, however few), the height
#: of its title and x axis (Vega-Lite fits the whole chart, these included, in the height it is given), and
#: its least height (one actor is a bar in a chart, not a hairline nor a strip).
ACTOR_BAR_PX = 28
ACTOR_CHART_FRAME_PX = 120
ACTOR_CHART_MIN_PX = 200
#: The click selection of every chart, and the field it selects: each bar's row in the chart's lists.
PICK = "bar"
ROW = "row"
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
    """The row index (the ROW field) of the bar clicked in an altair_chart selection event, or None.

    Streamlit hands over the point selection PICK as the list of the clicked rows' selection fields
    (`{"selection": {PICK: [{ROW: 3}]}}`), and `{}` when nothing is selected."""
    try:
        points = event["selection"][PICK]
    except (KeyError, TypeError):
        return None
    for p in points if isinstance(points, list) else ():
        row = p.get(ROW) if isinstance(p, dict) else None
        if isinstance(row, int | float) and not isinstance(row, bool):
            return int(row)
    return None


def chart(
    fig: alt.Chart, key: str, where: Any, f: SearchFilters, group: str, values: list[str | None]
) -> None:
    """Draw `fig`, whose bars carry an index into `values` (the raw group values: a click names a row of this
    list, never text the browser sends back); a click on a bar opens Search with that bar's filter."""
    # The selection stays in the widget's state: a new key after each click, so coming back to Activity
    # shows the charts instead of following the old click again.
    generation = st.session_state.get(CLICKS, 0)
    event = where.altair_chart(fig, width="stretch", key=f"{key}-{generation}", on_select="rerun")
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
    stacks: list[str] | None = None,
    colours: dict[str, str] | None = None,
    axes: tuple[str, str],
    legend: str | None = None,
    horizontal: bool = False,
) -> alt.Chart:
    """A bar chart of `counts` per category `labels`, categories in the order given (stacked by `stacks`
    when given: one colour each, from `colours` when it names them; a legend titled `legend` when given).
    Each row carries its position in the lists as ROW, the field of the click selection PICK.

    Vega-Lite draws text as SVG text, not HTML, so data-derived labels go in as they are (no escaping:
    it would show as "&lt;"). Drawn with Altair, not plotly: the four plotly charts cost ~450 ms of a
    ~900 ms page open in Chromium, the same charts in Vega-Lite ~170 ms less."""
    columns: dict[str, list[Any]] = {ROW: list(range(len(labels))), "label": labels, "count": counts}
    if stacks is not None:
        columns["stack"] = stacks
    table = pd.DataFrame(columns)
    colour: Any = alt.Undefined
    if stacks is not None:
        scale = alt.Scale(domain=list(colours), range=list(colours.values())) if colours else alt.Undefined
        colour = alt.Color(
            "stack:N", sort=None, scale=scale, title=legend, legend=alt.Legend() if legend else None
        )
    tooltip = [
        alt.Tooltip("label:N", title=axes[1] if horizontal else axes[0]),
        *([alt.Tooltip("stack:N", title=legend)] if stacks is not None and legend else []),
        alt.Tooltip("count:Q", title="Events", format=","),
    ]
    pick = alt.selection_point(name=PICK, fields=[ROW])
    mark = alt.Chart(table, title=title).mark_bar(
        cursor="pointer", size=ACTOR_BAR_PX - 8 if horizontal else alt.Undefined
    )
    # sort=None: categories in the order given, not alphabetical
    if horizontal:  # labels up to the Vega-Lite default of 180 px (Streamlit's theme cuts them at 100)
        x = alt.X("count:Q", title=axes[0])
        y = alt.Y("label:N", sort=None, title=axes[1], axis=alt.Axis(labelLimit=180))
    else:  # level labels (Streamlit's theme turns them upright), every other one left out where they crowd
        x = alt.X("label:N", sort=None, title=axes[0], axis=alt.Axis(labelAngle=0, labelOverlap="parity"))
        y = alt.Y("count:Q", title=axes[1])
    drawn: alt.Chart = mark.encode(x=x, y=y, color=colour, tooltip=tooltip).add_params(pick)
    return drawn


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
    # Labels go in as typed (Vega-Lite draws SVG text, not HTML); each bar carries its row's index, for the
    # click.
    label = "Hour (UTC)" if hourly else "Day"
    fig = bars(
        f"Events by {'hour' if hourly else 'day'} and source",
        [r.key or "" for r in by_time],
        [r.count for r in by_time],
        stacks=[r.key2 or "(none)" for r in by_time],
        axes=(label, "Events"),
        legend="Source",
    )
    chart(fig, "chart_time", st, f, time_group, [r.key for r in by_time])
    c1, c2 = st.columns(2)
    names = [r.key or "(none)" for r in by_action]
    fig = bars(
        "By action",
        names,
        [r.count for r in by_action],
        stacks=names,
        colours={n: action_colour(r.key) for n, r in zip(names, by_action, strict=True)},
        axes=("Action", "Events"),
    )
    chart(fig, "chart_action", c1, f, "action", [r.key for r in by_action])
    fig = bars(
        "By actor type",
        [r.key or "(none)" for r in by_actor_type],
        [r.count for r in by_actor_type],
        axes=("Actor type", "Events"),
    )
    chart(fig, "chart_actor_type", c1, f, "actor_type", [r.key for r in by_actor_type])
    top = by_actor[:TOP_ACTORS]  # in count order: the largest at the top
    fig = bars(
        f"Top {len(top)} actors",
        [r.key or "(none)" for r in top],
        [r.count for r in top],
        axes=("Events", "Actor"),
        horizontal=True,
    ).properties(height=max(ACTOR_CHART_MIN_PX, ACTOR_CHART_FRAME_PX + ACTOR_BAR_PX * len(top)))
    chart(fig, "chart_actor", c2, f, "actor", [r.key for r in top])


require_app()
main()
