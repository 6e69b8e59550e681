"""Reviewed problems (AppTest over real data): links keep the record's dates, a paged preset link survives
UTC midnight, ids and names from URLs and data render as text (Markdown, HTML, chart data), the Entity page's
"Show more" belongs to one entity."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from urllib.parse import parse_qs

import pytest

import audit_query.diff
import explorer.state
from explorer.widgets import escape_html, escape_md
from tests.explorer.conftest import HOSTILE, IMAGE_MD, LINK_MD, OLD, OLD_DAYS, chart_rows, texts

SEARCH, ENTITY = "pages/search.py", "pages/entity.py"
CORRELATION, ACTIVITY = "pages/correlation.py", "pages/activity.py"
HOSTILE_PARAM = f"{LINK_MD} {IMAGE_MD}"


def link_params(at, prefix: str) -> dict[str, list[str]]:
    """The query parameters of the one page link whose label starts with `prefix`."""
    (link,) = [p for p in at.get("page_link") if p.proto.label.startswith(prefix)]
    return parse_qs(link.proto.query_string)


def old_record(lib):
    (record,) = lib.history(OLD.entity_id, date_from=date.today() - timedelta(days=OLD_DAYS + 5))
    return record


def test_links_from_an_old_row_carry_its_dates_and_find_its_request_and_entity(app, lib):
    record = old_record(lib)
    day = date.fromisoformat(record.dt)
    window = {"from": str(day - timedelta(days=3)), "to": str(day + timedelta(days=3))}
    at = app(SEARCH, range="custom", sel=record.Id, **window).run()
    assert not at.exception and not at.error
    corr = link_params(at, "Correlation\\:")
    assert corr["corr"] == [OLD.correlation_id]
    start, end = date.fromisoformat(corr["from"][0]), date.fromisoformat(corr["to"][0])
    assert start <= day <= end and (end - start).days + 1 <= lib.settings.max_range_days

    at = app(CORRELATION, **corr).run()
    assert not at.exception and not at.error and not at.info
    assert list(at.dataframe[0].value["Correlation id"]) == [OLD.correlation_id]

    entity = link_params(at, "Entity\\:")
    assert entity["eid"] == [OLD.entity_id]
    at = app(ENTITY, **entity).run()
    assert not at.exception and not at.error and not at.info
    assert any(c.startswith("1 change to 1 entity between") for c in texts(at.caption))


def test_a_paged_preset_link_still_works_after_utc_midnight(app, lib, monkeypatch):
    at = app().run()
    at.button(key="page_next").click().run()
    assert not at.exception and not at.error
    params = {k: at.query_params[k] for k in at.query_params}
    assert params["range"] == "custom" and "cursor" in params

    today = explorer.state.today_utc()
    monkeypatch.setattr(explorer.state, "today_utc", lambda: today + timedelta(days=1))
    at = app(**params).run()
    assert not at.exception and not at.error
    q = explorer.state.SearchFilters().to_query(lib.sources(), lib.settings.default_limit, today=today)
    page2 = lib.query(q.next_query(lib.query(q)))
    assert list(at.dataframe[0].value["Entity id"]) == [r.EntityId for r in page2.rows]


def rendered_markdown(at) -> list[str]:
    """The Markdown source of every element Streamlit renders as Markdown (bodies, labels)."""
    out = texts(at.markdown) + texts(at.info) + texts(at.warning) + texts(at.error) + texts(at.caption)
    out += [h.value for h in at.header] + [e.label for e in at.expander]
    out += [p.proto.label for p in at.get("page_link")]
    return out


def outside_code(body: str) -> str:
    """The Markdown outside code spans (whose content renders literally, never as markup or links)."""
    return re.sub(r"(`+)(.+?)\1", "", body)


def assert_no_markup(at) -> None:
    bodies = [outside_code(b) for b in rendered_markdown(at)]
    for body in bodies:
        assert LINK_MD not in body and IMAGE_MD not in body and "](" not in body.replace("\\](", ""), body
        assert len(body.splitlines()) <= 1, body


@pytest.mark.parametrize("page, key", [(ENTITY, "eid"), (CORRELATION, "corr"), (SEARCH, "src")])
def test_markdown_in_a_url_parameter_shows_as_text(app, page, key):
    at = app(page, **{key: HOSTILE_PARAM}).run()
    assert not at.exception
    assert_no_markup(at)
    # shown as literal text: inside code spans (assert_no_markup found no markup outside them)
    assert any(LINK_MD in b and IMAGE_MD in b for b in rendered_markdown(at))


def test_markdown_in_a_malformed_url_value_shows_as_text(app):
    for page in (SEARCH, ENTITY, CORRELATION):
        at = app(page, **{"from": HOSTILE_PARAM, "eid": "x"}).run()
        assert not at.exception
        assert_no_markup(at)
        assert any(b.startswith("Link: from") and LINK_MD in b for b in texts(at.warning))


@pytest.mark.parametrize("brk", ["\n", "\r\n", "\r", "\u2028", "\x85", "\x0b"])
def test_a_line_break_in_a_value_cannot_start_a_markdown_block(brk):
    text = escape_md(f"a{brk}# heading{brk}{brk}![x](http://evil.example/p.png)")
    assert len(text.splitlines()) == 1 and "\\# heading" in text


def test_markdown_in_event_data_shows_as_text_on_every_page(app, lib):
    (record,) = lib.history(HOSTILE.entity_id)
    at = app(ENTITY, eid=HOSTILE.entity_id, sel=record.Id).run()
    assert not at.exception and not at.error
    assert at.header[0].value == escape_md(f"Order {HOSTILE.entity_id}")
    labels = [p.proto.label for p in at.get("page_link")]
    assert escape_md(f"Up to parent Order {HOSTILE.parent_id}") in labels
    assert escape_md(f"Correlation: {HOSTILE.correlation_id}") in labels
    assert any(escape_md(HOSTILE.actor) in m for m in texts(at.markdown))
    assert_no_markup(at)

    at = app(CORRELATION, corr=HOSTILE.correlation_id).run()
    assert not at.exception and not at.error and at.dataframe
    assert escape_md(f"Entity: Order {HOSTILE.entity_id}") in [p.proto.label for p in at.get("page_link")]
    assert_no_markup(at)


def test_html_in_event_data_is_plain_data_in_charts(app):
    # Vega-Lite draws labels as SVG text and vega-tooltip escapes what it shows, so the charts get data as
    # typed, unescaped (escaped, it would show as "&lt;"); tests/browser/test_activity_pages.py checks
    # what the browser draws of it
    at = app(ACTIVITY, eid=HOSTILE.entity_id).run()
    assert not at.exception and not at.error
    charts = at.get("vega_lite_chart")
    assert len(charts) == 4
    labels = [r["label"] for c in charts for r in chart_rows(c)]
    assert HOSTILE.actor in labels
    assert escape_html(HOSTILE.actor) not in labels and not any("&lt;" in x for x in labels)

    at = app(ENTITY, eid=HOSTILE.entity_id).run()
    (timeline,) = [h.proto.body for h in at.get("html") if "entity-timeline" in h.proto.body]
    assert html.escape(HOSTILE.actor) in timeline and html.escape(HOSTILE.entity_id) in timeline
    assert "<b>" not in timeline and "<a " not in timeline


def test_the_entity_timeline_diffs_each_change_once(app, lib, demo, monkeypatch):
    oid = demo[1].sample_order_ids[0]
    rows = lib.history(oid)
    calls = []
    original = audit_query.diff.diff_json

    def counting(before, after):
        calls.append(1)
        return original(before, after)

    monkeypatch.setattr(audit_query.diff, "diff_json", counting)  # the page imports it on each run
    at = app(ENTITY, eid=oid).run()
    assert not at.exception and at.get("html")
    assert len(calls) == len(rows)


def listed(at) -> list[str]:
    """The entity labels of the Entity page's change list (the page shown)."""
    return list(at.dataframe[0].value["Entity"])


def test_the_change_list_pages_start_again_for_another_entity(app, lib, demo, monkeypatch):
    monkeypatch.setattr(explorer.state, "ENTITY_SHOW_STEP", 2)
    big = [oid for oid in demo[1].sample_order_ids if len(lib.history(oid)) > 4][:2]
    assert len(big) == 2, "the demo should have two orders with more than 4 changes"
    rows = lib.history(big[0])
    at = app(ENTITY, eid=big[0]).run()
    assert listed(at) == [f"{r.EntityType} {r.EntityId}" for r in rows[:2]]
    at.button(key="e_next").click().run()
    assert listed(at) == [f"{r.EntityType} {r.EntityId}" for r in rows[2:4]]
    assert any(c.startswith(f"Changes 3–4 of {len(rows)}") for c in texts(at.caption))
    at.button(key="e_prev").click().run()
    assert listed(at) == [f"{r.EntityType} {r.EntityId}" for r in rows[:2]]
    at.button(key="e_next").click().run()
    at.text_input(key="e_id").input(big[1])
    at.button(key="FormSubmitter:entity_form-Show history").click().run()
    assert at.query_params["eid"] == big[1]
    assert any(c.startswith("Changes 1–2 of ") for c in texts(at.caption))


def test_a_link_to_a_change_opens_the_page_holding_it(app, lib, demo, monkeypatch):
    monkeypatch.setattr(explorer.state, "ENTITY_SHOW_STEP", 2)
    oid = next(o for o in demo[1].sample_order_ids if len(lib.history(o)) > 4)
    rows = lib.history(oid)
    at = app(ENTITY, eid=oid, sel=rows[4].Id).run()
    assert any(c.startswith(f"Changes 5–{min(6, len(rows))} of ") for c in texts(at.caption))
    assert sum(" · by " in m for m in texts(at.markdown)) == 1


PHISHY = (
    "http://evil.example/login",
    "HTTPS://evil.example",
    "www.evil.example",
    "boss@evil.example",
    "mailto:boss@evil.example",
    "(see:http://evil.example)",
)


@pytest.mark.parametrize("value", PHISHY)
def test_a_url_or_mail_address_in_data_is_never_markdown_text_that_gfm_would_autolink(value):
    text = escape_md(f"before {value} after")
    assert outside_code(text).replace("\\", "") == "before  after"  # the value itself is in a code span
    assert value in text
