"""The explorer records its own use (AppTest over real demo data): each view shown once per session as a
Read event, each export as an Export event before the file is offered, and no export it cannot record."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from audit_events.access import ACCESS_SOURCE, ACCESS_STREAM
from audit_query import AuditLogQuery
from explorer import access
from explorer.fmt import escape_md
from tests.explorer.conftest import texts

SESSION = access.SESSION_KEY


def access_events(data_dir, session_id: str) -> list[dict]:
    """The access envelopes of one explorer session, as the local recorder wrote them (raw gzip objects)."""
    out = []
    for path in sorted((data_dir / "raw").glob(f"year=*/month=*/day=*/hour=*/{ACCESS_STREAM}-*.json.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            envelope = json.loads(line)
            if envelope["detail"]["correlation_id"] == session_id:
                out.append(envelope)
    return sorted(out, key=lambda e: e["time"])


def after(envelope: dict) -> dict:
    return envelope["detail"]["entities"][0]["after"]


def week_query(lib, **filters) -> AuditLogQuery:
    today = datetime.now(UTC).date()
    return AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()), **filters)


def test_a_search_view_is_one_read_event_of_the_user_however_often_it_reruns(app, demo, lib):
    at = app(etype="Order").run()
    assert not at.exception and not at.error and not at.warning
    at.run()
    at.run()
    session = at.session_state[SESSION]
    events = access_events(demo[0], session)
    assert len(events) == 1
    (read,) = events
    assert read["source"] == ACCESS_SOURCE
    assert read["detail"]["action"] == "Read"
    assert read["detail"]["actor"] == {"type": 1, "name": "local"}
    q = week_query(lib, entity_types=["Order"])
    page = lib.query(q)
    assert after(read)["rows"] == len(page.rows) == len(at.dataframe[0].value)
    filters = after(read)["filters"]
    assert filters["entity_types"] == ["Order"] and filters["sources"] == list(q.sources)
    assert (filters["date_from"], filters["date_to"]) == (q.date_from.isoformat(), q.date_to.isoformat())
    assert "cursor" not in filters

    # The next page is another read of the same view (same entity id), with its page cursor.
    at.button(key="page_next").click().run()
    at.run()
    events = access_events(demo[0], session)
    assert len(events) == 2
    assert after(events[1])["filters"]["cursor"] == at.query_params["cursor"]
    ids = {e["detail"]["entities"][0]["entity"]["id"] for e in events}
    assert len(ids) == 1


def test_entity_and_correlation_views_are_recorded_once(app, demo, lib):
    oid = demo[1].sample_order_ids[0]
    at = app("pages/entity.py", eid=oid).run()  # opens Search first, then switches to Entity
    at.run()
    events = access_events(demo[0], at.session_state[SESSION])
    assert [after(e)["view"] for e in events] == ["search", "entity"]
    read = events[1]
    assert after(read)["view"] == "entity"
    assert after(read)["filters"]["entity_id"] == oid
    assert after(read)["rows"] == len(lib.history(oid))
    assert oid in read["detail"]["entities"][0]["entity"]["name"]

    corr = lib.history(oid)[-1].CorrelationId
    at = app("pages/correlation.py", corr=corr).run()
    at.run()
    events = access_events(demo[0], at.session_state[SESSION])
    assert [after(e)["view"] for e in events] == ["search", "correlation"]
    read = events[1]
    today = datetime.now(UTC).date()
    days = lib.settings.max_history_days  # a correlation lookup searches the whole history limit by default
    week = {"date_from": str(today - timedelta(days=days - 1)), "date_to": str(today)}
    assert after(read) == {
        "view": "correlation",
        "filters": {"correlation_id": corr, **week},  # the dates searched, not "the default"
        "rows": len(lib.correlation(corr)),
        "masked": False,
    }


def test_an_export_is_recorded_with_its_rows_and_format_when_the_file_is_offered(app, demo, lib):
    at = app(actor="alice@example.com").run()
    assert not at.get("download_button")
    at.radio(key="export_format").set_value("jsonl")
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error
    assert at.get("download_button"), "the file is offered"
    events = access_events(demo[0], at.session_state[SESSION])
    exports = [e for e in events if e["detail"]["action"] == "Export"]
    assert len(exports) == 1
    expected = lib.count(week_query(lib, actor_name="alice@example.com"))
    blob = at.session_state["export_file"]["data"]
    assert after(exports[0])["rows"] == expected == len(blob.splitlines())
    assert after(exports[0])["format"] == "jsonl"
    assert after(exports[0])["filters"]["actor_name"] == "alice@example.com"
    # Showing the offered file again does not record another export.
    at.run()
    assert len([e for e in access_events(demo[0], at.session_state[SESSION])
                if e["detail"]["action"] == "Export"]) == 1


@pytest.fixture
def failing_bus(monkeypatch):
    """Access events go to an EventBridge bus that does not exist (moto), so every record fails."""
    monkeypatch.setenv("AUDITLOG_ACCESS_LOG", "eventbridge")
    monkeypatch.setenv("AUDITLOG_ACCESS_EVENT_BUS", "no-such-bus")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3.client("events", region_name="us-east-1").create_event_bus(Name="another-bus")
        yield
    access._recorder.clear()  # its client belongs to this mock


def test_an_export_that_cannot_be_recorded_is_refused_while_reads_only_warn(app, demo, failing_bus):
    at = app(actor="alice@example.com").run()
    assert not at.exception
    warnings = texts(at.warning)
    bus = escape_md("no-such-bus")
    assert any("could not be recorded in the audit log" in w and bus in w for w in warnings)
    assert len(at.dataframe[0].value) > 0, "the data is still shown"

    at.button(key="export_prepare").click().run()
    assert not at.exception
    assert any("export was refused" in e and "ResourceNotFoundException" in e for e in texts(at.error))
    assert not at.get("download_button")
    assert "export_file" not in at.session_state
    assert access_events(demo[0], at.session_state[SESSION]) == []


def test_a_misconfigured_access_log_refuses_exports_too(app, demo, monkeypatch):
    monkeypatch.setenv("AUDITLOG_ACCESS_LOG", "eventbridge")
    monkeypatch.delenv("AUDITLOG_ACCESS_EVENT_BUS", raising=False)
    at = app(actor="alice@example.com").run()
    assert any(escape_md("AUDITLOG_ACCESS_EVENT_BUS") in w for w in texts(at.warning))
    at.button(key="export_prepare").click().run()
    assert any("export was refused" in e for e in texts(at.error))
    assert not at.get("download_button")


def test_access_logging_off_records_nothing_and_exports_freely(app, demo, monkeypatch):
    monkeypatch.setenv("AUDITLOG_ACCESS_LOG", "off")
    at = app(actor="alice@example.com").run()
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error and not at.warning
    assert at.get("download_button")
    assert access_events(demo[0], at.session_state[SESSION]) == []


def test_activity_and_pipeline_views_are_recorded_too(app, demo):
    at = app("pages/activity.py").run()
    at.switch_page("pages/pipeline.py").run()
    views = [after(e)["view"] for e in access_events(demo[0], at.session_state[SESSION])]
    assert views == ["search", "activity", "pipeline"]


def test_an_access_event_says_when_masking_applied(app, demo, monkeypatch, tmp_path):
    from tests.explorer.signin import with_sign_in, write_mapping, write_masking

    monkeypatch.setenv("AUDITLOG_MASKING_RULES", str(write_masking(tmp_path)))
    oid = demo[1].sample_order_ids[0]
    at = app("pages/entity.py", eid=oid)
    with_sign_in(at, write_mapping(tmp_path), monkeypatch, email="c@example.com", groups=["support-all"])
    at.run()
    # (the fixture opens Search as the local user before switching page and signing in)
    (read,) = [e for e in access_events(demo[0], at.session_state[SESSION]) if after(e)["view"] == "entity"]
    assert after(read)["masked"] is True and read["detail"]["actor"]["name"] == "c@example.com"
