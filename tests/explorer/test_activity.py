"""Activity page (AppTest over real demo data): charts over the Search filters match the library's counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from audit_query import AuditLogQuery
from explorer.fmt import escape_md
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
    assert range_caption + escape_md(", ".join(q.sources)) in texts(at.caption)
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
