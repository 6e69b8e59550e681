"""The one filter table drives every consumer (issue 13 item 1): a row changed or added in
audit_query/filters.py shows up in the CLI help and parsing, the URL round trip, the export command line and
the error labels (the Search form: tests/explorer/test_search.py)."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from datetime import date

import pytest

from audit_query import AuditLogQuery, filters
from audit_query.cli import add_filter_arguments, query_from_args
from audit_query.export import export_command
from explorer.state import SearchFilters


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="auditlog query")
    add_filter_arguments(p)
    p.add_argument("--format")
    p.add_argument("--output")
    return p


#: The correlation id row renamed everywhere: what a new row looks like to each consumer.
RENAMED = replace(
    filters.by_name("correlation_id"), flag="--request-id", url_key="rid", label="Request id", help="RID-HELP"
)


@pytest.fixture()
def renamed(monkeypatch: pytest.MonkeyPatch) -> filters.Filter:
    table = tuple(RENAMED if f.name == "correlation_id" else f for f in filters.FILTERS)
    monkeypatch.setattr(filters, "FILTERS", table)
    return RENAMED


def test_every_row_has_its_flag_url_key_and_label() -> None:
    import explorer.data

    help_text = parser().format_help()
    keys = SearchFilters.keys()
    for f in filters.FILTERS:
        assert f.flag in help_text, f.name
        assert keys[f.name] == f.url_key
        assert explorer.data.FIELD_LABELS[f.name] == f.label
    assert len({f.flag for f in filters.FILTERS}) == len({f.url_key for f in filters.FILTERS}) == len(
        filters.FILTERS
    )


def test_a_row_changed_in_the_table_reaches_the_cli_the_url_and_the_export_line(renamed) -> None:
    help_text = parser().format_help()
    assert "--request-id" in help_text and "RID-HELP" in help_text and "--correlation-id" not in help_text
    args = parser().parse_args(["--from", "2026-11-26", "--source", "a", "--request-id", "r-1"])
    q = query_from_args(args)
    assert q.correlation_id == "r-1"

    f = SearchFilters.from_params({"rid": "r-1", "corr": "ignored"})
    assert f.correlation_id == "r-1"
    assert f.to_params()["rid"] == "r-1" and "corr" not in f.to_params()
    assert SearchFilters.from_params(f.to_params()) == f

    line = export_command(q, "csv", "out.csv")
    assert "--request-id=r-1" in line and "--correlation-id" not in line
    assert query_from_args(parser().parse_args(shlex.split(line)[2:])) == q


def test_a_row_removed_from_the_table_is_gone_from_every_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filters, "FILTERS", tuple(f for f in filters.FILTERS if f.name != "channel_codes"))
    assert "--channel" not in parser().format_help()
    assert "ch" not in SearchFilters.keys().values()
    q = AuditLogQuery(date(2026, 11, 26), date(2026, 11, 26), ("a",), channel_codes=("web",))
    assert "--channel" not in export_command(q, "csv")


def test_every_filter_survives_cli_export_line_and_url_round_trips() -> None:
    q = AuditLogQuery(
        date(2026, 11, 20),
        date(2026, 11, 26),
        ("shop.orders", "billing"),
        entity_types=("Order",),
        actions=("Update", "Delete"),
        actor_name="-o'brien",
        actor_types=("User",),
        entity_id="-1",
        include_children=True,
        correlation_id="c 1",
        channel_codes=("web", "ios"),
        actor_contains="ALICE%",
        entity_name_contains="_x",
        changed_fields=("status", "-a.b"),
        changed_from="-1",
        changed_to="it's \"x\"",
        include_explorer_events=True,
        order="oldest",
    )
    line = export_command(q, "csv", "out.csv")
    assert "--include-explorer-events" in line and "--order oldest" in line
    assert query_from_args(parser().parse_args(shlex.split(line)[2:])) == q
    values = {f.name: getattr(q, f.name) for f in filters.FILTERS}
    values["actions"] = tuple(a.value for a in q.actions)
    values["actor_types"] = tuple(t.value for t in q.actor_types)
    view = SearchFilters(range="custom", date_from=q.date_from, date_to=q.date_to, order="oldest", **values)
    assert view.to_params()["order"] == "oldest" and view.to_params()["xev"] == "1"
    assert SearchFilters.from_params(view.to_params()) == view
    assert view.to_query(q.sources) == q


def test_a_bad_order_in_a_link_is_reported_and_newest_first_is_used() -> None:
    f = SearchFilters.from_params({"order": "sideways"})
    assert f.order is None and f.to_query(("a",)).order == "newest"
    assert f.problems == ("order: 'sideways' is not one of newest, oldest; using newest",)
    assert "order" not in SearchFilters.from_params({"order": "newest"}).to_params()
