"""Activity page (AppTest over real demo data): charts over the Search filters match the library's counts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from audit_query import AuditLogQuery
from explorer.fmt import escape_md
from explorer.state import SearchFilters
from tests.explorer.conftest import texts

PAGE = "pages/activity.py"


def chart_totals(at, key: str) -> int:
    chart = next(
        c for c in at.get("plotly_chart") if json.loads(c.proto.spec)["layout"]["title"]["text"] == key
    )
    figure = json.loads(chart.proto.spec)
    total = 0
    for trace in figure["data"]:
        values = trace["x"] if trace.get("orientation") == "h" else trace["y"]
        if isinstance(values, dict):  # plotly's typed-array encoding
            import base64

            import numpy as np

            values = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
        total += sum(values)
    return total


def figure(at, title: str) -> dict:
    """The plotly figure (as JSON) of the chart titled `title`."""
    return next(
        f
        for c in at.get("plotly_chart")
        if (f := json.loads(c.proto.spec))["layout"]["title"]["text"] == title
    )


def chart_names(at, key: str) -> set[str]:
    """The trace names (one per colour) of the chart titled `key`."""
    chart = next(
        c for c in at.get("plotly_chart") if json.loads(c.proto.spec)["layout"]["title"]["text"] == key
    )
    return {trace["name"] for trace in json.loads(chart.proto.spec)["data"]}


def test_charts_follow_the_search_filters(app, lib):
    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()), actions=["Update"])
    at = app(PAGE, act="Update").run()
    assert not at.exception and not at.error
    assert at.metric[0].value == f"{lib.count(q):,}"
    assert chart_totals(at, "Events by day and source") == lib.count(q)
    assert chart_totals(at, "By action") == lib.count(q)
    # the caption states the range and the sources the charts are over; the action chart only the filter's
    range_caption = f"Over the Search filters: {q.date_from} to {q.date_to} · sources: "
    assert range_caption + escape_md(", ".join(q.sources)) + " · actions\\: Update" in texts(at.caption)
    assert chart_names(at, "By action") == {"Update"}


def test_filters_set_on_search_carry_over_to_activity(app, lib):
    at = app().run()
    at.text_input(key="s_actor").input("bob@example.com")
    at.button(key="FormSubmitter:search_form-Search").click().run()
    at.switch_page(PAGE)
    at.query_params.clear()  # a page switch clears the URL; the filters live on in the session
    at.run()
    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()), actor_name="bob@example.com")
    assert at.metric[0].value == f"{lib.count(q):,}"


def test_the_caption_names_every_active_filter(app):
    at = app(PAGE, act="Update", actor="bob@example.com", etype="Order", atype="User", ch="web").run()
    assert not at.exception
    caption = texts(at.caption)[0]
    for shown in (
        "actions\\: Update",
        "actor name\\: `bob@example.com`",
        "entity types\\: Order",
        "actor types\\: User",
        "channels\\: web",
    ):
        assert shown in caption, (shown, caption)


def test_each_action_has_one_colour_on_every_page(app):
    from explorer.palette import ACTION_COLOURS

    at = app(PAGE).run()
    drawn = {t["name"]: t["marker"]["color"] for t in figure(at, "By action")["data"]}
    assert drawn and all(drawn[a] == ACTION_COLOURS[a] for a in drawn)
    assert drawn.get("Delete") == "#c62828"


def test_actor_types_are_broken_down(app, lib):
    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()))
    at = app(PAGE).run()
    fig = figure(at, "By actor type")
    assert chart_totals(at, "By actor type") == lib.count(q)
    assert set(fig["data"][0]["x"]) == {r.key for r in lib.counts(q, "actor_type")}


def test_two_days_are_drawn_by_hour(app, lib):
    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=1), today, tuple(lib.sources()))
    at = app(PAGE, range="2d").run()
    assert not at.exception
    assert chart_totals(at, "Events by hour and source") == lib.count(q)
    hours = {x for t in figure(at, "Events by hour and source")["data"] for x in t["x"]}
    assert hours == {r.key for r in lib.counts(q, "hour")} and len(hours) > 2
    assert all(len(h) == 16 and h.endswith(":00") for h in hours)


def test_a_single_actor_is_a_bar_not_a_hairline(app, lib):
    at = app(PAGE, actor="bob@example.com").run()
    fig = figure(at, "Top 1 actors")
    assert fig["layout"]["height"] >= 260  # 140 px total left the one bar a few pixels tall
    assert fig["layout"]["yaxis"]["type"] == "category"


def test_a_clicked_bar_opens_search_with_its_filter(app):
    import base64

    import numpy as np

    at = app(PAGE, atype="User").run()
    (bar,) = [t for t in figure(at, "By action")["data"] if t["name"] == "Delete"]
    custom = bar["customdata"]  # [[row index]], maybe in plotly's typed-array encoding
    if isinstance(custom, dict):
        index = int(np.frombuffer(base64.b64decode(custom["bdata"]), dtype=custom["dtype"])[0])
    else:
        index = int(custom[0][0])
    at.session_state["chart_action-0"] = {"selection": {"points": [{"x": "Delete", "customdata": [index]}]}}
    at.run()
    assert not at.exception
    # Search is shown, filtered to the clicked action on top of the page's filters
    view = at.session_state["_views"]["search"]
    assert view["act"] == ["Delete"] and view["atype"] == ["User"]
    assert at.title[0].value == "Search"
    # coming back shows Activity (with the new filter), not Search again for the old click
    at.switch_page(PAGE).run()
    assert at.title[0].value == "Activity"
    assert "actions\\: Delete" in texts(at.caption)[0]


def test_drill_down_narrows_the_filters_to_the_bar():
    from pages.activity import drill_down

    f = SearchFilters(actions=("Update",), cursor="c")
    assert drill_down(f, "day", "2026-11-20") == SearchFilters(
        range="custom", date_from=date(2026, 11, 20), date_to=date(2026, 11, 20), actions=("Update",)
    )
    assert drill_down(f, "hour", "2026-11-20 13:00").date_from == date(2026, 11, 20)
    assert drill_down(f, "actor", "alice").actor_name == "alice"
    assert drill_down(f, "actor_type", "User").actor_types == ("User",)
    assert drill_down(f, "action", "Delete").actions == ("Delete",)
