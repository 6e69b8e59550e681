"""Activity page (AppTest over real demo data): charts over the Search filters match the library's counts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from audit_query import AuditLogQuery
from explorer.fmt import escape_md
from explorer.state import SearchFilters
from tests.explorer.conftest import chart_rows, texts

PAGE = "pages/activity.py"


def chart(at, title: str) -> tuple[dict, list[dict]]:
    """The Vega-Lite spec of the chart titled `title` and its rows (Streamlit sends a chart's data as Arrow
    beside the spec)."""
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        if spec["title"] == title:
            assert len(c.proto.datasets) == 1, title
            return spec, chart_rows(c)
    raise AssertionError(f"no chart titled {title!r}")


def chart_totals(at, title: str) -> int:
    """The events the bars of the chart titled `title` add up to."""
    return sum(row["count"] for row in chart(at, title)[1])


def chart_names(at, title: str) -> set[str]:
    """The stack names (one per colour) of the chart titled `title`."""
    return {row["stack"] for row in chart(at, title)[1]}


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
    spec, rows = chart(at, "By action")
    scale = spec["encoding"]["color"]["scale"]
    drawn = dict(zip(scale["domain"], scale["range"], strict=True))
    assert {r["stack"] for r in rows} == set(drawn)
    assert drawn and all(drawn[a] == ACTION_COLOURS[a] for a in drawn)
    assert drawn.get("Delete") == "#c62828"


def test_actor_types_are_broken_down(app, lib):
    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()))
    at = app(PAGE).run()
    _, rows = chart(at, "By actor type")
    assert chart_totals(at, "By actor type") == lib.count(q)
    assert {r["label"] for r in rows} == {r.key for r in lib.counts(q, "actor_type")}


def test_two_days_are_drawn_by_hour(app, lib):
    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=1), today, tuple(lib.sources()))
    at = app(PAGE, range="2d").run()
    assert not at.exception
    assert chart_totals(at, "Events by hour and source") == lib.count(q)
    hours = {r["label"] for r in chart(at, "Events by hour and source")[1]}
    assert hours == {r.key for r in lib.counts(q, "hour")} and len(hours) > 2
    assert all(len(h) == 16 and h.endswith(":00") for h in hours)


def test_a_single_actor_is_a_bar_not_a_hairline(app, lib):
    from pages.activity import ACTOR_BAR_PX, ACTOR_CHART_FRAME_PX, ACTOR_CHART_MIN_PX

    at = app(PAGE, actor="bob@example.com").run()
    spec, rows = chart(at, "Top 1 actors")
    assert [r["label"] for r in rows] == ["bob@example.com"]
    assert spec["height"] == ACTOR_CHART_MIN_PX >= ACTOR_CHART_FRAME_PX + 2 * ACTOR_BAR_PX  # not a strip
    assert spec["mark"]["size"] == ACTOR_BAR_PX - 8  # a bar as thick as with 15 actors, not a block
    assert spec["encoding"]["y"]["type"] == "nominal"


def test_the_actor_chart_grows_per_bar_largest_on_top(app, lib):
    from pages.activity import ACTOR_BAR_PX, ACTOR_CHART_FRAME_PX, TOP_ACTORS

    today = datetime.now(UTC).date()
    q = AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()))
    at = app(PAGE).run()
    spec, rows = chart(at, f"Top {TOP_ACTORS} actors")
    assert spec["height"] == ACTOR_CHART_FRAME_PX + ACTOR_BAR_PX * TOP_ACTORS
    assert [r["label"] for r in rows] == [r.key for r in lib.counts(q, "actor")[:TOP_ACTORS]]
    assert spec["encoding"]["y"]["sort"] is None  # drawn in that order, top down


def click(at, key: str, row) -> None:
    """Send what Streamlit's frontend sends for a click on the bar of `row` of chart widget `key`."""
    at.session_state[key] = {"selection": {"bar": [{"row": row}]}}
    at.run()


def test_a_clicked_bar_opens_search_with_its_filter(app):
    at = app(PAGE, atype="User").run()
    (index,) = [r["row"] for r in chart(at, "By action")[1] if r["label"] == "Delete"]
    click(at, "chart_action-0", index)
    assert not at.exception
    # Search is shown, filtered to the clicked action on top of the page's filters
    view = at.session_state["_views"]["search"]
    assert view["act"] == ["Delete"] and view["atype"] == ["User"]
    assert at.title[0].value == "Search"
    # coming back shows Activity (with the new filter), not Search again for the old click
    at.switch_page(PAGE).run()
    assert at.title[0].value == "Activity"
    assert "actions\\: Delete" in texts(at.caption)[0]


@pytest.mark.parametrize("row", [99, -1, "0"])
def test_a_click_names_a_row_of_the_servers_list_or_nothing(app, row):
    at = app(PAGE).run()
    click(at, "chart_action-0", row)
    assert not at.exception
    assert at.title[0].value == "Activity"  # no such bar: nothing is opened


def test_no_click_is_an_empty_selection():
    from pages.activity import _clicked

    assert _clicked({"selection": {"bar": {}}}) is None
    assert _clicked({"selection": {"bar": [{"row": 2}]}}) == 2
    assert _clicked({"selection": {"bar": [{"label": "Delete"}]}}) is None  # never the browser's text
    assert _clicked({"selection": {"bar": [{"row": True}]}}) is None
    assert _clicked({}) is None and _clicked(None) is None


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
