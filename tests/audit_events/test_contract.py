"""The event contract: valid events pass, broken ones name the field and the rule, odd input never crashes."""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from jsonschema import Draft202012Validator

from audit_events import contract
from audit_events.contract import (
    SOURCE_PATTERN,
    ContractError,
    ContractViolation,
    check_event,
    envelope_from_entry,
    is_put_events_entry,
    make_detail,
    make_entity,
    validate_event,
)
from etl import rules

NOW = datetime(2026, 11, 27, 10, 15, 30, 123456, tzinfo=UTC)


def demo_event() -> dict:
    """An event like the demo generator's: an order and two of its lines changed in one request."""
    detail = make_detail(
        [
            make_entity("ord-42", "Order 42", before={"status": "new"},
                        after={"status": "paid", "total": 12.5},
                        channel_code="web", channel_account_code="acc-1", customer="c-9"),
            make_entity(7, "Line 7", after={"qty": 2},
                        parent={"id": "ord-42", "name": "Order 42", "type": "Order"}),
            make_entity("line-8", before={"qty": 1}, parent={"id": "ord-42", "type": "Order"}),
        ],
        entity_type="Order",
        action="Update",
        correlation_id="req-123",
        actor_name="alice@example.com",
        actor_type="User",
        event_id=str(uuid.uuid4()),
    )
    entry = {"Source": "orders-service", "DetailType": "OrderChanged", "Detail": json.dumps(detail)}
    return envelope_from_entry(entry, now=NOW, account="123456789012", region="eu-west-1")


def messages(envelope: object) -> list[str]:
    return [str(v) for v in validate_event(envelope)]


def test_schema_file_is_a_valid_draft_2020_12_schema_usable_without_python_helpers():
    schema = contract.load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["source"]["pattern"] == SOURCE_PATTERN
    # A plain validator on the raw file (as another language would use it) agrees with validate_event.
    plain = Draft202012Validator(schema)
    assert plain.is_valid(demo_event())
    broken = demo_event()
    del broken["detail"]["entities"][0]["entity"]["id"]
    assert not plain.is_valid(broken)


def test_demo_like_event_is_valid_and_check_event_passes():
    event = demo_event()
    assert validate_event(event) == []
    check_event(event)
    assert event["detail"]["actor"] == {"type": 1, "name": "alice@example.com"}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e["detail"]["entities"][0]["entity"].pop("id"),
         "detail.entities[0].entity.id: is required (required)"),
        (lambda e: e["detail"]["entities"][1]["entity"].update(id=None),
         "detail.entities[1].entity.id: must be of type string or number, got null (type)"),
        (lambda e: e["detail"]["entities"][2]["entity"].update(id=""),
         "detail.entities[2].entity.id: must not be empty (minLength)"),
        (lambda e: e["detail"].update(entities=[]),
         "detail.entities: must have at least 1 item (minItems)"),
        (lambda e: e["detail"].update(action="Remove"),
         "detail.action: must be one of Create, Update, Delete, Read, Export; got 'Remove' (enum)"),
        (lambda e: e["detail"]["actor"].update(type=3),
         "detail.actor.type: must be one of 0, 1, 2; got 3 (enum)"),
        (lambda e: e["detail"]["actor"].update(type="User"),
         "detail.actor.type: must be of type integer, got string (type)"),
        (lambda e: e.update(source="Orders/Service"),
         "source: must match ^[a-z0-9][a-z0-9._-]{0,127}$; got 'Orders/Service' (pattern)"),
        (lambda e: e.pop("time"), "time: is required (required)"),
        (lambda e: e.update(time="27/11/2026 10:15"),
         "time: must be YYYY-MM-DDTHH:MM:SS"),
        (lambda e: e["detail"]["entities"][0].update(before=["not", "an", "object"]),
         "detail.entities[0].before: must be of type object or null, got array (type)"),
        (lambda e: e["detail"]["entities"][1]["parent"].pop("type"),
         "detail.entities[1].parent.type: is required (required)"),
        (lambda e: e.update(detail="{}"), "detail: must be of type object, got string (type)"),
    ],
    ids=["missing-entity-id", "null-entity-id", "empty-entity-id", "empty-entities", "bad-action",
         "bad-actor-type", "actor-type-as-name", "bad-source", "missing-time", "non-iso-time",
         "before-not-object", "parent-without-type", "detail-as-text"],
)
def test_broken_event_is_rejected_with_field_path_and_rule(mutate, expected):
    event = demo_event()
    mutate(event)
    found = messages(event)
    assert len(found) == 1, found
    assert found[0].startswith(expected)
    with pytest.raises(ContractError) as info:
        check_event(event)
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError)
    violation = info.value.errors[0]
    assert f"{violation.path}: {violation.message} ({violation.rule})" == found[0]


def test_every_violation_is_reported_not_just_the_first():
    event = demo_event()
    event["detail"].pop("correlation_id")
    event["detail"]["actor"] = {}
    event["detail"]["entities"][0]["entity"] = {"name": "no id"}
    assert {(v.path, v.rule) for v in validate_event(event)} == {
        ("detail.correlation_id", "required"),
        ("detail.actor.type", "required"),
        ("detail.actor.name", "required"),
        ("detail.entities[0].entity.id", "required"),
    }


def test_extra_keys_and_numeric_ids_are_allowed():
    event = demo_event()
    event["detail"]["tenant"] = "t-1"
    event["detail"]["entities"][0]["entity"]["id"] = 42
    event["detail"]["entities"][0]["extra"] = {"any": ["thing"]}
    event["replay-name"] = "x"
    assert validate_event(event) == []


@pytest.mark.parametrize(
    "hostile",
    [None, [], [demo_event()], "text", 42, True, {"detail": None}, {"detail": {"entities": "x"}},
     {"detail": {"entities": [None, 1, "x", []]}}, {1: 2, (1, 2): "tuple key"}, {"source": {"nested": []}},
     {"time": 1.5e300, "detail": {"entities": [{"entity": {"id": float("nan")}}]}}],
)
def test_hostile_or_odd_shapes_give_violations_not_crashes(hostile):
    found = validate_event(hostile)
    assert found
    assert all(isinstance(v, ContractViolation) and v.path and v.rule and v.message for v in found)
    with pytest.raises(ContractError):
        check_event(hostile)


def test_not_an_object_is_reported_at_the_root():
    assert messages([]) == ["event: must be of type object, got array (type)"]
    assert messages(None) == ["event: must be of type object, got null (type)"]


def test_bad_entity_item_shapes_name_their_position():
    event = demo_event()
    event["detail"]["entities"] = [None, {"entity": "ord-1"}]
    assert messages(event) == [
        "detail.entities[0]: must be of type object, got null (type)",
        "detail.entities[1].entity: must be of type object, got string (type)",
    ]


def test_source_pattern_constant_matches_the_rule():
    assert re.fullmatch(SOURCE_PATTERN, "orders-service.v2_eu")
    assert re.fullmatch(SOURCE_PATTERN, "a" * 128)
    for bad in ["", "a" * 129, "Orders", "-orders", "orders/x", "dt=2026", "orders\n", "ordérs"]:
        assert not re.fullmatch(SOURCE_PATTERN, bad), bad


# -- PutEvents entries -> envelopes --------------------------------------------------------------------


def test_entry_becomes_the_envelope_eventbridge_delivers():
    detail = {"entities": [{"entity": {"id": 1}}], "entity_type": "Order", "action": "Create",
              "correlation_id": "r", "actor": {"type": 0, "name": "orders"}}
    entry = {"Source": "orders", "DetailType": "OrderChanged", "Detail": json.dumps(detail),
             "Resources": ["arn:aws:x"], "EventBusName": "audit"}
    envelope = envelope_from_entry(entry, now=NOW)
    assert list(envelope) == ["version", "id", "detail-type", "source", "account", "time", "region",
                              "resources", "detail"]
    assert uuid.UUID(envelope["id"]).version == 4
    assert {k: v for k, v in envelope.items() if k != "id"} == {
        "version": "0", "detail-type": "OrderChanged", "source": "orders", "account": "000000000000",
        "time": "2026-11-27T10:15:30.123Z", "region": "local", "resources": ["arn:aws:x"], "detail": detail,
    }
    assert validate_event(envelope) == []
    assert envelope_from_entry(entry, now=NOW)["id"] != envelope["id"]


@pytest.mark.parametrize(
    ("time_value", "expected"),
    [
        (datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))), "2026-02-28T23:30:00.000Z"),
        (datetime(2026, 3, 1, 1, 30), "2026-03-01T01:30:00.000Z"),
        ("2026-03-01T01:30:00.5+01:00", "2026-03-01T00:30:00.500Z"),
        ("2026-03-01T01:30:00Z", "2026-03-01T01:30:00.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_entry_time_is_converted_to_utc_with_z(time_value, expected):
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": time_value}
    assert envelope_from_entry(entry, now=NOW)["time"] == expected


def test_entry_without_time_uses_the_current_utc_time():
    before = datetime.now(UTC).replace(microsecond=0)
    envelope = envelope_from_entry({"Source": "s", "DetailType": "d", "Detail": "{}"})
    stamp = datetime.fromisoformat(envelope["time"])
    assert envelope["time"].endswith("Z")
    assert before <= stamp <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("entry", "path", "rule"),
    [
        ({"DetailType": "d", "Detail": "{}"}, "Source", "required"),
        ({"Source": "s", "Detail": "{}"}, "DetailType", "required"),
        ({"Source": "s", "DetailType": "d"}, "Detail", "required"),
        ({"Source": "s", "DetailType": "d", "Detail": "[1, 2]"}, "Detail", "type"),
        ({"Source": "s", "DetailType": "d", "Detail": "{not json"}, "Detail", "type"),
        ({"Source": "s", "DetailType": "d", "Detail": {"already": "a dict"}}, "Detail", "type"),
        ({"Source": "s", "DetailType": "d", "Detail": "{}", "Time": "yesterday"}, "Time", "format"),
        (["Source", "DetailType", "Detail"], "event", "type"),
    ],
)
def test_unusable_entry_raises_contract_error_with_path_and_rule(entry, path, rule):
    with pytest.raises(ContractError) as info:
        envelope_from_entry(entry)
    assert (info.value.errors[0].path, info.value.errors[0].rule) == (path, rule)
    assert f"{path}: " in str(info.value) and f"({rule})" in str(info.value)


def test_is_put_events_entry_tells_entries_from_envelopes():
    envelope = demo_event()
    assert not is_put_events_entry(envelope)
    assert is_put_events_entry({"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "b"})
    assert not is_put_events_entry({"Source": "s", "DetailType": "d"})
    assert not is_put_events_entry(["Source", "DetailType", "Detail"])
    assert not is_put_events_entry(None)


def test_make_detail_accepts_actor_type_names_and_copies_entities():
    items = [make_entity(1)]
    detail = make_detail(items, entity_type="Order", action="Delete", correlation_id="r", actor_name="ops",
                         actor_type="Client")
    assert detail["actor"] == {"type": 2, "name": "ops"}
    assert "event_id" not in detail
    assert detail["entities"] == [{"entity": {"id": 1}}]
    envelope = copy.deepcopy(demo_event())
    envelope["detail"] = detail
    assert validate_event(envelope) == []


@pytest.mark.parametrize(
    "time_value",
    ["1969-12-31T23:59:59.999Z", "1970-01-01T00:30:00+01:00", "0999-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
     "9999-12-31T23:59:59.999-01:00"],
)
def test_time_outside_the_storable_range_is_refused_with_the_field_and_rule(time_value):
    """The ETL quarantines these as invalid_time (etl.rules' range), so `auditlog ingest` refuses them."""
    event = demo_event()
    event["time"] = time_value
    (violation,) = validate_event(event)
    assert (violation.path, violation.rule) == ("time", "range")
    assert "1970-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z" in violation.message


@pytest.mark.parametrize(
    "time_value", ["2262-04-12T00:00:00Z", "9999-12-31T23:59:59.999Z", "1969-12-31T23:30:00-01:00"]
)
def test_time_inside_the_storable_range_is_accepted(time_value):
    """Beyond DuckDB's nanosecond range (2262) is still storable: the ETL stores it."""
    event = demo_event()
    event["time"] = time_value
    assert validate_event(event) == []


@pytest.mark.parametrize(
    "time_value",
    ["2026-11-27T10:15:00Z", "2026-11-27t10:15:00Z", "2026-11-27T10:15:00z", "2026-11-27t10:15:00.5z",
     "2026-11-27T10:15:00.123456789+01:00", "2026-11-27 10:15:00Z", "2026-11-27T23:59:60Z",
     "2026-11-27T10:15:00+24:00", "2026-11-27T10:15:00-00:00", "2026-11-27T10:15Z"],
)
def test_the_contract_accepts_a_time_exactly_when_the_etl_stores_it(time_value):
    """An event that `auditlog ingest` accepts must not be quarantined as invalid_time by the ETL later
    (a lower-case 'z' is RFC 3339 but not what either ETL reads)."""
    event = demo_event()
    event["time"] = time_value
    stored = rules.parse_event_time(time_value) is not None
    violations = [v for v in validate_event(event) if v.path == "time"]
    assert (violations == []) == stored, (time_value, violations)
    if violations and violations[0].rule == "pattern":
        assert "upper-case 'T' and 'Z'" in violations[0].message
