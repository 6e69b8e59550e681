"""The explorer's access events: the detail is valid, the local recorder's raw objects go through the real
local ETL into rows the query library finds, the settings pick the recorder, EventBridge failures surface."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from audit_events.access import (
    ACCESS_DETAIL_TYPE,
    ACCESS_SOURCE,
    AccessLogError,
    EventBridgeAccessRecorder,
    LocalAccessRecorder,
    NullAccessRecorder,
    access_detail,
    access_entry,
    recorder_from_env,
)
from audit_events.contract import envelope_from_entry, validate_event
from audit_query import AuditLogClient, AuditLogQuery, QuerySettings
from audit_query.backends.duckdb import DuckDBBackend
from etl.local import run_etl

BUS = "audit-access"
WHEN = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
FILTERS = {"date_from": "2026-11-20", "date_to": "2026-11-26", "entity_id": "100234", "actions": ["Update"]}


def detail(action: str = "Read", filters: dict | None = None, **kwargs) -> dict:
    kwargs.setdefault("rows", 12)
    kwargs.setdefault("fmt", None)
    return access_detail(
        action,
        user=kwargs.pop("user", "alice@example.com"),
        view=kwargs.pop("view", "search"),
        filters=FILTERS if filters is None else filters,
        session_id=kwargs.pop("session_id", "explorer-s1"),
        **kwargs,
    )


@pytest.mark.parametrize("action", ["Read", "Export"])
def test_the_detail_is_a_valid_event_of_a_user_in_a_session(action):
    d = detail(action, fmt="csv" if action == "Export" else None)
    envelope = envelope_from_entry(access_entry(d))
    assert validate_event(envelope) == []
    assert envelope["source"] == ACCESS_SOURCE and envelope["detail-type"] == ACCESS_DETAIL_TYPE
    assert d["action"] == action and d["actor"] == {"type": 1, "name": "alice@example.com"}
    assert d["correlation_id"] == "explorer-s1" and d["event_id"]
    after = d["entities"][0]["after"]
    assert after["filters"] == FILTERS and after["rows"] == 12
    assert ("format" in after) == (action == "Export")


def test_a_view_keeps_its_entity_id_and_other_filters_get_another():
    first, again = detail(), detail(session_id="explorer-s2", user="bob")
    other = detail(filters={**FILTERS, "entity_id": "100235"})
    ids = [d["entities"][0]["entity"]["id"] for d in (first, again, other)]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("search-")
    assert first["event_id"] != again["event_id"]
    paged = detail(filters={**FILTERS, "cursor": "abc", "direction": "prev"})
    assert paged["entities"][0]["entity"]["id"] == ids[0], "another page of a view is the same view"


def test_the_entity_name_is_one_readable_line_even_for_hostile_filters():
    name = detail(filters={"actor_name": "a\nb\r\n# [x](http://e)", "entity_id": "9" * 500})["entities"][0][
        "entity"
    ]["name"]
    assert "\n" not in name and "\r" not in name and len(name) <= 240
    assert name.startswith("search · actor_name=a b # [x](http://e)")


def test_a_bad_action_or_missing_user_is_refused():
    with pytest.raises(ValueError, match="Read, Export"):
        detail("Delete")
    with pytest.raises(ValueError, match="user"):
        detail(user=" ")


def test_local_events_go_through_the_etl_into_rows_the_library_finds(tmp_path):
    recorder = LocalAccessRecorder(tmp_path, clock=lambda: WHEN)
    recorder.record(detail("Export", fmt="csv", rows=40))
    recorder.record(detail("Read", rows=12))
    assert len(recorder.written) == 2, "each event is flushed at once, not buffered"
    for path in recorder.written:
        assert path.relative_to(tmp_path).parent.as_posix() == "raw/year=2026/month=11/day=27/hour=09"
        assert path.name.endswith(".json.gz")
        (envelope,) = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
        assert validate_event(envelope) == []

    report = run_etl(tmp_path, WHEN.date())
    assert report.rows_out == 2

    client = AuditLogClient(DuckDBBackend(tmp_path), QuerySettings())
    try:
        assert ACCESS_SOURCE in client.sources()
        page = client.query(AuditLogQuery(date(2026, 11, 27), date(2026, 11, 27), sources=(ACCESS_SOURCE,)))
    finally:
        client.close()
    rows = {r.Action: r for r in page.rows}
    assert set(rows) == {"Export", "Read"}
    export = rows["Export"]
    assert export.ActorName == "alice@example.com" and export.ActorType == "User"
    assert export.EntityType == "AuditView" and export.CorrelationId == "explorer-s1"
    assert export.EntityId == rows["Read"].EntityId
    expected_after = {"view": "search", "filters": FILTERS, "rows": 40, "format": "csv"}
    assert json.loads(export.After or "") == expected_after
    assert export.Timestamp == WHEN


def test_a_folder_that_cannot_be_written_raises_access_log_error(tmp_path):
    (tmp_path / "raw").write_text("a file where the raw folder should be")
    with pytest.raises(AccessLogError, match="could not write the access event"):
        LocalAccessRecorder(tmp_path).record(detail())


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, LocalAccessRecorder),
        ({"AUDITLOG_BACKEND": "duckdb"}, LocalAccessRecorder),
        ({"AUDITLOG_BACKEND": "athena"}, NullAccessRecorder),
        ({"AUDITLOG_BACKEND": "athena", "AUDITLOG_ACCESS_EVENT_BUS": BUS}, EventBridgeAccessRecorder),
        ({"AUDITLOG_ACCESS_LOG": "off"}, NullAccessRecorder),
        ({"AUDITLOG_ACCESS_LOG": "Local", "AUDITLOG_BACKEND": "athena"}, LocalAccessRecorder),
        ({"AUDITLOG_ACCESS_LOG": "eventbridge", "AUDITLOG_ACCESS_EVENT_BUS": BUS}, EventBridgeAccessRecorder),
    ],
)
def test_the_settings_choose_the_recorder(env, expected, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert type(recorder_from_env(env)) is expected


def test_the_local_recorder_writes_under_the_data_folder(tmp_path):
    recorder = recorder_from_env({"AUDITLOG_DATA_DIR": str(tmp_path)})
    assert isinstance(recorder, LocalAccessRecorder) and recorder.data_dir == tmp_path


def test_eventbridge_without_a_bus_and_unknown_modes_are_refused_with_the_variable():
    with pytest.raises(ValueError, match="AUDITLOG_ACCESS_EVENT_BUS"):
        recorder_from_env({"AUDITLOG_ACCESS_LOG": "eventbridge"})
    with pytest.raises(ValueError, match="AUDITLOG_ACCESS_LOG='kafka': use one of local, eventbridge, off"):
        recorder_from_env({"AUDITLOG_ACCESS_LOG": "kafka"})


def test_eventbridge_recorder_publishes_to_a_moto_bus():
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="access-tap")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": [ACCESS_SOURCE]}))
        events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])

        sent = detail("Export", fmt="parquet")
        recorder = recorder_from_env({"AUDITLOG_ACCESS_EVENT_BUS": BUS}, client=events)
        recorder.record(sent)

        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        (body,) = [json.loads(m["Body"]) for m in messages]
        assert body["source"] == ACCESS_SOURCE and body["detail-type"] == ACCESS_DETAIL_TYPE
        assert body["detail"] == sent


def test_eventbridge_recorder_raises_when_the_bus_does_not_exist():
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        with pytest.raises(AccessLogError, match="ResourceNotFoundException"):
            EventBridgeAccessRecorder("no-such-bus", events).record(detail())


def test_a_failed_entry_raises_access_log_error_with_its_code():
    client = boto3.client(
        "events", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    failed = {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "AccessDeniedException", "ErrorMessage": "not authorized to put events"}],
    }
    with Stubber(client) as stub:
        stub.add_response("put_events", failed)
        with pytest.raises(AccessLogError, match="'audit-access'.*AccessDeniedException: not authorized"):
            EventBridgeAccessRecorder(BUS, client).record(detail())
        stub.assert_no_pending_responses()
