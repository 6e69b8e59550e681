"""EventPublisher against a real botocore client (Stubber) and a moto event bus."""

from __future__ import annotations

import copy
import json
import random
import uuid

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from audit_events.contract import make_detail, make_entity, validate_event
from audit_events.publisher import (
    CONTRACT_VIOLATION,
    ENTRY_TOO_LARGE,
    MAX_ENTRY_BYTES,
    EventPublisher,
    entry_size,
)

BUS = "audit-bus"
SOURCE = "orders-service"
DETAIL_TYPE = "OrderChanged"


def events_client():
    return boto3.client("events", region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def detail(n: int, *, event_id: str | None = None, **changes) -> dict:
    d = make_detail([make_entity(f"ord-{n}", f"Order {n}", after={"n": n, **changes})], entity_type="Order",
                    action="Update", correlation_id=f"req-{n}", actor_name="orders", event_id=event_id)
    return d


def entry_for(d: dict) -> dict:
    """The entry the publisher must send for a detail that already carries its event_id."""
    return {"Source": SOURCE, "DetailType": DETAIL_TYPE, "EventBusName": BUS,
            "Detail": json.dumps(d, ensure_ascii=False, separators=(",", ":"))}


def ok(count: int) -> dict:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in range(count)]}


class Recorder:
    """An injected sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class UpperBound(random.Random):
    """An rng whose uniform(a, b) returns b, so the delays show the backoff caps."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def stubbed():
    client = events_client()
    sent: list[list[dict]] = []
    client.meta.events.register("before-parameter-build.events.PutEvents",
                                lambda params, **_: sent.append(copy.deepcopy(params["Entries"])))
    with Stubber(client) as stub:
        yield client, stub, sent
        stub.assert_no_pending_responses()


def publisher(client, **kwargs) -> EventPublisher:
    kwargs.setdefault("sleep", Recorder())
    return EventPublisher(client, event_bus_name=BUS, source=SOURCE, **kwargs)


def test_23_events_go_out_as_requests_of_10_10_and_3_in_order(stubbed):
    client, stub, _ = stubbed
    details = [detail(i, event_id=f"evt-{i:02d}") for i in range(23)]
    for chunk in (details[0:10], details[10:20], details[20:23]):
        stub.add_response("put_events", ok(len(chunk)), {"Entries": [entry_for(d) for d in chunk]})
    result = publisher(client).publish(details, DETAIL_TYPE)
    assert result.sent == [f"evt-{i:02d}" for i in range(23)]
    assert result.failed == [] and result.ok
    assert result.requests == 3


def test_only_retryable_failed_entries_are_resent_and_the_rest_returned(stubbed):
    client, stub, sent = stubbed
    details = [detail(i, event_id=f"evt-{i}") for i in range(5)]
    first = {"FailedEntryCount": 3, "Entries": [
        {"EventId": "a"},
        {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"},
        {"ErrorCode": "AccessDeniedException", "ErrorMessage": "not allowed on this bus"},
        {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
        {"EventId": "b"},
    ]}
    stub.add_response("put_events", first, {"Entries": [entry_for(d) for d in details]})
    stub.add_response("put_events", ok(2), {"Entries": [entry_for(details[1]), entry_for(details[3])]})
    sleep = Recorder()
    result = publisher(client, sleep=sleep).publish(details, DETAIL_TYPE)
    assert sent[1] == [entry_for(details[1]), entry_for(details[3])]
    assert result.sent == ["evt-0", "evt-4", "evt-1", "evt-3"]
    assert [(f.event_id, f.error_code, f.error_message) for f in result.failed] == [
        ("evt-2", "AccessDeniedException", "not allowed on this bus")]
    assert result.failed[0].entry == entry_for(details[2])
    assert len(sleep.delays) == 1 and result.requests == 2


def test_retryable_failures_give_up_after_max_attempts_with_growing_bounded_delays(stubbed):
    client, stub, _ = stubbed
    d = detail(1, event_id="evt-1")
    throttled = {"FailedEntryCount": 1,
                 "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"}]}
    for _ in range(6):
        stub.add_response("put_events", throttled, {"Entries": [entry_for(d)]})
    sleep = Recorder()
    pub = publisher(client, sleep=sleep, max_attempts=6, base_delay=1.0, max_delay=5.0, rng=UpperBound())
    result = pub.publish([d], DETAIL_TYPE)
    assert sleep.delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert result.sent == []
    assert [(f.event_id, f.error_code) for f in result.failed] == [("evt-1", "ThrottlingException")]
    assert "6 attempts" in result.failed[0].error_message
    assert result.requests == 6


def test_full_jitter_delays_stay_within_their_caps(stubbed):
    client, stub, _ = stubbed
    d = detail(1, event_id="evt-1")
    failing = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}
    for _ in range(4):
        stub.add_response("put_events", failing, {"Entries": [entry_for(d)]})
    stub.add_response("put_events", ok(1), {"Entries": [entry_for(d)]})
    sleep = Recorder()
    result = publisher(client, sleep=sleep, base_delay=0.5, max_delay=2.0, rng=random.Random(7)).publish(
        [d], DETAIL_TYPE)
    assert result.sent == ["evt-1"] and result.ok
    caps = [0.5, 1.0, 2.0, 2.0]
    assert len(sleep.delays) == 4
    assert all(0 <= delay <= cap for delay, cap in zip(sleep.delays, caps, strict=True))
    assert len(set(sleep.delays)) == 4  # jittered, not a fixed schedule


def test_oversized_entry_is_never_sent_and_reported(stubbed):
    client, stub, sent = stubbed
    small_a, small_b = detail(1, event_id="evt-1"), detail(3, event_id="evt-3")
    huge = detail(2, event_id="evt-2", blob="x" * MAX_ENTRY_BYTES)
    stub.add_response("put_events", ok(2), {"Entries": [entry_for(small_a), entry_for(small_b)]})
    result = publisher(client).publish([small_a, huge, small_b], DETAIL_TYPE)
    assert result.sent == ["evt-1", "evt-3"]
    assert [(f.event_id, f.error_code) for f in result.failed] == [("evt-2", ENTRY_TOO_LARGE)]
    assert str(MAX_ENTRY_BYTES) in result.failed[0].error_message
    assert all("x" * 1000 not in e["Detail"] for request in sent for e in request)


def test_entry_of_exactly_the_limit_is_sent_alone_and_requests_stay_under_256_kb(stubbed):
    client, stub, sent = stubbed
    base = detail(0, event_id="evt-0", blob="")
    padding = MAX_ENTRY_BYTES - entry_size(entry_for(base))
    at_limit = detail(0, event_id="evt-0", blob="é" * (padding // 2))  # 2 UTF-8 bytes per character
    assert entry_size(entry_for(at_limit)) == MAX_ENTRY_BYTES
    third = detail(1, event_id="evt-1", blob="y" * 100_000)
    fourth = detail(2, event_id="evt-2", blob="z" * 100_000)
    fifth = detail(3, event_id="evt-3", blob="w" * 100_000)
    stub.add_response("put_events", ok(1), {"Entries": [entry_for(at_limit)]})
    stub.add_response("put_events", ok(2), {"Entries": [entry_for(third), entry_for(fourth)]})
    stub.add_response("put_events", ok(1), {"Entries": [entry_for(fifth)]})
    result = publisher(client).publish([at_limit, third, fourth, fifth], DETAIL_TYPE)
    assert result.sent == ["evt-0", "evt-1", "evt-2", "evt-3"]
    assert all(sum(entry_size(e) for e in request) <= MAX_ENTRY_BYTES for request in sent)


def test_contract_violation_fails_only_that_event(stubbed):
    client, stub, _ = stubbed
    good = detail(1, event_id="evt-1")
    bad = detail(2, event_id="evt-2")
    bad["action"] = "Remove"
    no_entities = detail(3, event_id="evt-3")
    no_entities["entities"] = []
    stub.add_response("put_events", ok(1), {"Entries": [entry_for(good)]})
    result = publisher(client).publish([bad, good, no_entities, ["not", "a", "detail"]], DETAIL_TYPE)
    assert result.sent == ["evt-1"]
    codes = [(f.event_id, f.error_code) for f in result.failed]
    assert codes == [("evt-2", CONTRACT_VIOLATION), ("evt-3", CONTRACT_VIOLATION), (None, CONTRACT_VIOLATION)]
    assert "detail.action: must be one of Create" in result.failed[0].error_message
    assert "(enum)" in result.failed[0].error_message
    assert "detail.entities: must have at least 1 item (minItems)" in result.failed[1].error_message
    assert "Detail: must be a JSON object, got array (type)" in result.failed[2].error_message


def test_event_id_is_kept_when_set_and_added_when_missing_without_touching_the_callers_dict(stubbed):
    client, stub, sent = stubbed
    with_id = detail(1, event_id="caller-key")
    without_id = detail(2)
    original = copy.deepcopy(without_id)
    stub.add_response("put_events", ok(2), {"Entries": ANY})
    result = publisher(client).publish([with_id, without_id], DETAIL_TYPE)
    assert without_id == original
    sent_details = [json.loads(e["Detail"]) for e in sent[0]]
    assert sent_details[0]["event_id"] == "caller-key"
    generated = sent_details[1]["event_id"]
    assert uuid.UUID(generated).version == 4
    assert {k: v for k, v in sent_details[1].items() if k != "event_id"} == original
    assert result.sent == ["caller-key", generated]


def test_publish_entries_keeps_time_and_adds_event_id(stubbed):
    client, stub, sent = stubbed
    d = detail(1)
    entry = {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": json.dumps(d),
             "Time": "2026-11-27T10:00:00Z"}
    stub.add_response("put_events", ok(1), {"Entries": ANY})
    result = publisher(client).publish_entries([entry])
    assert sent[0][0]["EventBusName"] == BUS and sent[0][0]["Time"] == "2026-11-27T10:00:00Z"
    assert result.sent == [json.loads(sent[0][0]["Detail"])["event_id"]]
    assert "event_id" not in json.loads(entry["Detail"])


def test_whole_call_error_stops_publishing_and_reports_every_unsent_event(stubbed):
    client, stub, _ = stubbed
    details = [detail(i, event_id=f"evt-{i:02d}") for i in range(25)]
    stub.add_response("put_events", ok(10), {"Entries": [entry_for(d) for d in details[:10]]})
    stub.add_client_error("put_events", service_error_code="AccessDeniedException",
                          service_message="User is not authorized", http_status_code=400)
    result = publisher(client).publish(details, DETAIL_TYPE)
    assert result.sent == [f"evt-{i:02d}" for i in range(10)]
    assert [f.event_id for f in result.failed] == [f"evt-{i:02d}" for i in range(10, 25)]
    assert {(f.error_code, f.error_message) for f in result.failed} == {
        ("AccessDeniedException", "User is not authorized")}
    assert result.requests == 2


@pytest.mark.parametrize("source", ["Orders", "", "orders/eu", "dt=1", "x" * 129])
def test_a_bad_source_is_refused_when_the_publisher_is_made(source):
    with pytest.raises(ValueError, match="source"):
        EventPublisher(events_client(), event_bus_name=BUS, source=source)


def test_end_to_end_on_a_moto_event_bus():
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="audit-tap")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
        events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])

        details = [detail(i) for i in range(12)]
        result = EventPublisher(events, event_bus_name=BUS, source=SOURCE).publish(details, DETAIL_TYPE)
        assert result.ok and len(result.sent) == 12 and result.requests == 2

        bodies = []
        while len(bodies) < 12:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            assert messages, f"only {len(bodies)} of 12 events arrived"
            bodies += [json.loads(m["Body"]) for m in messages]
        assert sorted(b["detail"]["event_id"] for b in bodies) == sorted(result.sent)
        assert {(b["source"], b["detail-type"]) for b in bodies} == {(SOURCE, DETAIL_TYPE)}
        by_id = {b["detail"]["event_id"]: b["detail"] for b in bodies}
        for sent_id, original in zip(result.sent, details, strict=True):
            assert {k: v for k, v in by_id[sent_id].items() if k != "event_id"} == original
        # moto's delivered envelope has no `account` (real EventBridge sets it); everything else passes.
        for body in bodies:
            assert [str(v) for v in validate_event(body) if v.path != "account"] == []
