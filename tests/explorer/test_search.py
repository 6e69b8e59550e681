"""Search page (AppTest over real demo data): filters from the form and the URL, paging, diff, export."""

from __future__ import annotations

import csv
import io
import os
import shlex
from datetime import UTC, datetime, timedelta

import pytest

from audit_query import AuditLogQuery
from tests.explorer.conftest import open_more_filters, texts
from tests.sqli import sqli_lines

PAGE = "pages/search.py"


def last_week() -> tuple:
    today = datetime.now(UTC).date()
    return today - timedelta(days=6), today


def grid_ids(at) -> list[str]:
    frame = at.dataframe[0].value
    return list(frame["Entity id"])


def lib_query(lib, **filters) -> AuditLogQuery:
    start, end = last_week()
    return AuditLogQuery(start, end, tuple(lib.sources()), **filters)


def test_default_view_is_the_libraries_first_page_newest_first(app, lib):
    at = app().run()
    assert not at.exception and not at.error
    expected = lib.query(lib_query(lib))
    assert grid_ids(at) == [r.EntityId for r in expected.rows]
    assert any(f"{lib.count(lib_query(lib)):,} matching rows" in c for c in texts(at.caption))


def test_actor_filter_from_the_form_goes_into_the_url_and_the_grid(app, lib):
    at = app().run()
    at.text_input(key="s_actor").input("alice@example.com")
    at.multiselect(key="s_actions").select("Update")
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert not at.exception and not at.error
    assert at.query_params["actor"] == "alice@example.com"
    assert at.query_params["act"] == "Update"
    expected = lib.query(lib_query(lib, actor_name="alice@example.com", actions=["Update"]))
    assert expected.rows, "the demo data should have support staff updates"
    assert grid_ids(at) == [r.EntityId for r in expected.rows]
    assert set(at.dataframe[0].value["Actor"]) == {"alice@example.com"}


def test_next_and_previous_follow_the_library_pages(app, lib):
    at = app().run()
    first = grid_ids(at)
    at.button(key="page_next").click().run()
    q = lib_query(lib)
    page1 = lib.query(q)
    page2 = lib.query(q.next_query(page1))
    assert grid_ids(at) == [r.EntityId for r in page2.rows]
    assert "cursor" in at.query_params
    at.button(key="page_prev").click().run()
    assert grid_ids(at) == first
    assert at.button(key="page_prev").disabled


def test_a_shared_link_with_a_selected_row_shows_its_field_diff(app, lib):
    update = next(r for r in lib.query(lib_query(lib, actions=["Update"], entity_types=["Order"])).rows)
    at = app(range="7d", act="Update", etype="Order", sel=update.Id).run()
    assert not at.exception and not at.error
    diff = at.table[0].value
    assert "status" in list(diff["Field"])
    row = diff[diff["Field"] == "status"].iloc[0]
    assert row["Change"].endswith("changed") and row["Before"] != row["After"]
    links = [p.proto.label for p in at.get("page_link")]
    assert any(label.startswith("Entity\\: Order ") for label in links)
    assert any(label.startswith("Correlation\\: ") for label in links)


def test_validation_errors_name_the_field_and_are_not_tracebacks(app):
    at = app().run()
    at.text_input(key="s_actor").input("x" * 300)
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert not at.exception
    assert any("Actor name" in e and "300 characters" in e for e in texts(at.error))

    at = app(act="Drop").run()
    assert not at.exception
    assert any("Actions" in e and "'Drop'" in e for e in texts(at.error))

    at = app(range="custom", **{"from": "2026-01-01", "to": "2026-03-01"}).run()
    assert any("Date range" in e and "at most 7 days" in e for e in texts(at.error))


def test_a_tampered_page_link_says_so_and_offers_the_first_page(app):
    at = app(cursor="not-a-cursor").run()
    assert not at.exception
    assert any("Page link" in e for e in texts(at.error))
    at.button(key="page_restart").click().run()
    assert "cursor" not in at.query_params and at.dataframe


@pytest.mark.parametrize("hostile", sqli_lines()[::15])
def test_hostile_text_filters_give_results_or_a_validation_message(app, hostile):
    at = app(actor=hostile, corr=hostile).run()
    assert not at.exception
    errors = texts(at.error)
    assert all("query engine failed" not in e and "went wrong" not in e for e in errors)
    assert errors or any("No events match" in i for i in texts(at.info))


def test_no_results_suggest_widening_the_date_range(app):
    at = app(actor="nobody@example.com").run()
    assert any("Widen the date range" in i for i in texts(at.info))


def test_no_results_for_a_partial_actor_name_say_that_actor_matching_is_exact(app):
    at = app(actor="alice").run()
    assert any("Actor names match exactly" in i and "'alice'" in i for i in texts(at.info))
    at = app(etype="NoSuchType").run()
    assert not any("Actor names match exactly" in i for i in texts(at.info))


def test_export_builds_a_file_with_every_row_of_the_view(app, lib):
    at = app(actor="alice@example.com").run()
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error
    blob = at.session_state["export_file"]["data"]
    rows = list(csv.DictReader(io.StringIO(blob.decode("utf-8"))))
    expected = [
        r for page in lib.iter_pages(lib_query(lib, actor_name="alice@example.com")) for r in page.rows
    ]
    assert [r["Id"] for r in rows] == [r.Id for r in expected]


def test_export_above_the_cap_gives_the_cli_command(app, monkeypatch):
    monkeypatch.setenv("AUDITLOG_EXPORT_MAX_ROWS", "10")
    at = app(etype="Order").run()
    assert any("more than the 10 rows" in w for w in texts(at.warning))
    argv = shlex.split(at.code[0].value)
    assert argv[:2] == ["auditlog", "export"]
    assert "--entity-type=Order" in argv
    # The explorer's data folder goes with it, so the pasted command exports the same data.
    assert argv[argv.index("--data-dir") + 1] == os.environ["AUDITLOG_DATA_DIR"]


def test_a_typed_date_wins_over_the_preset_and_a_chosen_preset_without_typing_is_used(app, lib):
    today = datetime.now(UTC).date()
    at = app().run()
    at.date_input(key="s_from").set_value(today - timedelta(days=1))
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert at.query_params["range"] == "custom" and at.query_params["from"] == str(today - timedelta(days=1))
    q = AuditLogQuery(today - timedelta(days=1), today, tuple(lib.sources()))
    said = f"{lib.count(q):,} matching rows between {today - timedelta(days=1)} and {today} (UTC)"
    assert any(said in c for c in texts(at.caption))

    at.selectbox(key="s_range").set_value("today")
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert at.query_params["range"] == "today" and "from" not in at.query_params
    assert any(f"between {today} and {today} (UTC)" in c for c in texts(at.caption))


def test_a_row_changed_in_the_filter_table_is_a_form_widget(app, lib, monkeypatch):
    """The form loops over audit_query/filters.py: a renamed row is drawn with its label and URL key."""
    from dataclasses import replace

    from audit_query import filters

    renamed = replace(filters.by_name("correlation_id"), url_key="rid", label="Request id")
    monkeypatch.setattr(
        filters, "FILTERS", tuple(renamed if f.name == "correlation_id" else f for f in filters.FILTERS)
    )
    at = open_more_filters(app().run())
    assert "Request id" in [w.label for w in at.text_input]
    corr = next(r.CorrelationId for r in lib.query(lib_query(lib)).rows if r.CorrelationId)
    at.text_input(key="s_rid").input(corr)
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert not at.exception and not at.error
    assert at.query_params["rid"] == corr and "corr" not in at.query_params
    expected = lib.query(lib_query(lib, correlation_id=corr))
    assert grid_ids(at) == [r.EntityId for r in expected.rows]


def test_everything_alice_did_typed_in_any_case_from_the_form(app, lib):
    at = open_more_filters(app().run())
    at.text_input(key="s_actorq").input("ALICE")
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert not at.exception and not at.error
    assert at.query_params["actorq"] == "ALICE"
    start, end = last_week()
    oracle = [r for r in lib.query(AuditLogQuery(start, end, tuple(lib.sources()), limit=1000)).rows]
    expected = lib.query(lib_query(lib, actor_contains="alice"))
    assert expected.rows and {r.ActorName for r in expected.rows} <= {
        r.ActorName for r in oracle if r.ActorName and "alice" in r.ActorName.lower()
    }
    assert grid_ids(at) == [r.EntityId for r in expected.rows]


def test_what_happened_between_two_times_from_the_form(app, lib):
    """Typed times of day make a custom range to the second; the grid is the library's answer."""
    at = app().run()
    newest = lib.query(lib_query(lib)).rows[0].Timestamp
    day = newest.date()
    start = (newest - timedelta(hours=1)).replace(microsecond=0)
    if start.date() != day:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = newest.replace(microsecond=0)
    at.date_input(key="s_from").set_value(day)
    at.date_input(key="s_to").set_value(day)
    at.text_input(key="s_tfrom").input(start.strftime("%H:%M:%S"))
    at.text_input(key="s_tto").input(end.strftime("%H:%M:%S"))
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert not at.exception and not at.error
    assert at.query_params["from"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    q = AuditLogQuery(day, day, tuple(lib.sources()), time_from=start, time_to=end)
    expected = lib.query(q)
    assert expected.rows and grid_ids(at) == [r.EntityId for r in expected.rows]
    assert all(start <= r.Timestamp < end + timedelta(seconds=1) for r in expected.rows)


def test_each_page_says_which_rows_of_the_total_it_shows(app, lib):
    at = app().run()
    first = grid_ids(at)
    total = lib.count(lib_query(lib))
    assert any(f"rows 1–{len(first):,}" in c for c in texts(at.caption))
    at.button(key="page_next").click().run()
    second = grid_ids(at)
    assert at.query_params["pos"] == str(len(first))
    assert any(f"rows {len(first) + 1:,}–{len(first) + len(second):,}" in c for c in texts(at.caption))
    assert total > len(first)
    at.button(key="page_prev").click().run()
    assert grid_ids(at) == first and any(f"rows 1–{len(first):,}" in c for c in texts(at.caption))


def labels(at) -> set[str]:
    """The labels of the form's text fields and multiselects as drawn."""
    return {w.label for w in [*at.text_input, *at.multiselect]}


def test_more_filters_are_drawn_only_when_open_and_a_link_using_one_opens_them(app):
    at = app().run()
    assert {"Actor name", "Entity id", "Actions", "Entity types"} <= labels(at)
    assert not {"Actor contains", "Correlation id", "Changed field"} & labels(at)
    assert "More filters" in [e.label for e in at.expander]

    linked = app(actorq="alice", chf="status").run()
    assert not linked.exception and not linked.error
    assert "More filters · 2 in use" in [e.label for e in linked.expander]
    assert linked.text_input(key="s_actorq").value == "alice"
    assert linked.text_input(key="s_chf").value == "status"


def test_closing_more_filters_keeps_its_filters_applied_and_the_section_closed(app, lib):
    actor = next(r.ActorName for r in lib.query(lib_query(lib)).rows if r.ActorName)
    part = actor[1:4]
    at = app(actorq=part).run()
    assert at.text_input(key="s_actorq").value == part
    at.session_state["s_more"] = False  # the user closes the section
    at.run()
    assert "Actor contains" not in labels(at), "a closed section must stay closed"
    at.multiselect(key="s_actions").select("Update")
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert not at.exception and not at.error
    assert at.query_params["actorq"] == part and at.query_params["act"] == "Update"
    expected = lib.query(lib_query(lib, actor_contains=part, actions=["Update"]))
    assert grid_ids(at) == [r.EntityId for r in expected.rows]
