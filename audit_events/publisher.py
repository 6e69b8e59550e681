"""Publish audit events to an EventBridge bus with PutEvents: batching, size checks, partial-failure retries.

Rules (DESIGN §3 and the AWS PutEvents limits):
- at most 10 entries per request, and the request's total entry size at most 256 KB (262144 bytes);
- each entry's size follows the AWS rule (Time counts 14 bytes when set; Source, DetailType, Detail and each
  Resources item count their UTF-8 bytes); an entry over 256 KB is never sent;
- every detail gets an `event_id` (kept when the caller set one) so that resends are deduplicated downstream;
- each event is validated against the contract first; a bad one fails alone, never the whole call;
- per-entry failures (FailedEntryCount > 0) are resent, only those entries and only for the retryable codes
  InternalFailure and ThrottlingException, with exponential backoff and full jitter.

Failures that concern the whole request (throttling of the call, network errors, 5xx) are retried by
botocore's own retry handler, configured on the client (the default client uses `standard` mode); when the
call still fails, publishing stops and that batch and every entry not yet sent are returned as failed with
the call's error code, so the caller always learns which events were accepted.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from audit_events.contract import (
    SOURCE_PATTERN,
    envelope_from_entry,
    new_event_id,
    validate_event,
)
from audit_events.contract import ContractError as _ContractError

MAX_ENTRIES_PER_REQUEST = 10
MAX_ENTRY_BYTES = 262144
"""256 KB: the PutEvents limit for one entry and for the sum of a request's entries."""
MAX_REQUEST_BYTES = 262144
TIME_BYTES = 14
RETRYABLE_CODES: frozenset[str] = frozenset({"InternalFailure", "ThrottlingException"})
ENTRY_TOO_LARGE = "EntryTooLarge"
"""Local error code (not an AWS one): the entry is over 256 KB and was not sent."""
CONTRACT_VIOLATION = "ContractViolation"
"""Local error code (not an AWS one): the event breaks the contract and was not sent."""
NOT_SENT = "NotSent"
"""Local error code used only when a response lacks a result for an entry."""


@dataclass(frozen=True)
class FailedEntry:
    """One event that was not accepted: its event_id (None when it could not be read), why, and the entry."""

    event_id: str | None
    error_code: str
    error_message: str
    entry: dict[str, Any]


@dataclass
class PublishResult:
    """What happened: `sent` holds the event ids EventBridge accepted, `failed` the rest with reasons."""

    sent: list[str] = field(default_factory=list)
    failed: list[FailedEntry] = field(default_factory=list)
    requests: int = 0
    """PutEvents calls made (a call botocore retried counts once)."""

    @property
    def ok(self) -> bool:
        """True when every event was accepted."""
        return not self.failed


def entry_size(entry: Mapping[str, Any]) -> int:
    """The size EventBridge charges for one PutEvents entry against the 256 KB limit.

    >>> entry_size({"Source": "orders", "DetailType": "OrderChanged", "Detail": '{"a":"é"}'})
    28
    >>> entry_size({"Source": "a", "DetailType": "b", "Detail": "{}", "Time": 0, "Resources": ["arn:x"]})
    23
    """
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if value is not None:
            size += len(str(value).encode("utf-8"))
    for resource in entry.get("Resources") or ():
        if resource is not None:
            size += len(str(resource).encode("utf-8"))
    return size


def full_jitter_delay(attempt: int, base_delay: float, max_delay: float, rng: random.Random) -> float:
    """Seconds to wait before retry `attempt` (0-based): uniform(0, min(max_delay, base * 2**attempt))."""
    return rng.uniform(0, min(max_delay, base_delay * 2**attempt))


def default_client() -> Any:
    """A boto3 EventBridge client whose whole-call retries use botocore's `standard` mode."""
    import boto3
    from botocore.config import Config

    return boto3.client("events", config=Config(retries={"mode": "standard", "max_attempts": 5}))


class EventPublisher:
    """Sends audit events for one source to one event bus; see the module docstring for the rules."""

    def __init__(
        self,
        client: Any = None,
        *,
        event_bus_name: str,
        source: str,
        max_attempts: int = 5,
        base_delay: float = 0.1,
        max_delay: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(source, str) or not re.fullmatch(SOURCE_PATTERN, source):
            raise ValueError(
                f"source {source!r} is not allowed: use lower-case letters, digits, '.', '_' and '-', "
                "starting with a letter or digit, at most 128 characters"
            )
        if not event_bus_name:
            raise ValueError("event_bus_name must not be empty (use 'default' for the account's default bus)")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if base_delay < 0 or max_delay < 0:
            raise ValueError("base_delay and max_delay must not be negative")
        self.client = client if client is not None else default_client()
        self.event_bus_name = event_bus_name
        self.source = source
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()

    def publish(
        self,
        details: Iterable[Mapping[str, Any]],
        detail_type: str,
        *,
        resources: Sequence[str] | None = None,
    ) -> PublishResult:
        """Publish each `detail` (the contract's `detail` object) as one event of `detail_type`.

        The caller's dicts are not modified; an `event_id` is added to the sent copy when missing.
        """
        entries: list[dict[str, Any] | FailedEntry] = []
        for detail in details:
            entry: dict[str, Any] = {
                "Source": self.source,
                "DetailType": detail_type,
                "EventBusName": self.event_bus_name,
            }
            if resources:
                entry["Resources"] = list(resources)
            if isinstance(detail, Mapping):
                detail = dict(detail)
                if detail.get("event_id") in (None, ""):
                    detail["event_id"] = new_event_id()
            try:
                entry["Detail"] = _dumps(detail)
            except (TypeError, ValueError) as exc:
                event_id = detail.get("event_id") if isinstance(detail, dict) else None
                message = f"Detail: is not JSON-serialisable: {exc} (type)"
                shown = {**entry, "Detail": repr(detail)}
                entries.append(FailedEntry(event_id, CONTRACT_VIOLATION, message, shown))
                continue
            entries.append(entry)
        return self._publish(entries)

    def publish_entries(self, entries: Iterable[Mapping[str, Any]]) -> PublishResult:
        """Publish ready PutEvents entries (Source, DetailType, Detail text; optional Time, Resources).

        EventBusName defaults to this publisher's bus; an `event_id` is added to Detail when missing.
        """
        prepared: list[dict[str, Any] | FailedEntry] = []
        for entry in entries:
            copy = dict(entry)
            copy.setdefault("EventBusName", self.event_bus_name)
            try:
                detail = json.loads(copy["Detail"])
            except (KeyError, TypeError, ValueError):
                detail = None
            if isinstance(detail, dict) and detail.get("event_id") in (None, ""):
                detail["event_id"] = new_event_id()
                copy["Detail"] = _dumps(detail)
            prepared.append(copy)
        return self._publish(prepared)

    # -- internals -------------------------------------------------------------------------------------

    def _check(self, entry: dict[str, Any]) -> FailedEntry | None:
        """Contract and size checks done before anything is sent."""
        event_id = _event_id_of(entry)
        try:
            envelope = envelope_from_entry(entry)
        except _ContractError as exc:
            return FailedEntry(event_id, CONTRACT_VIOLATION, str(exc), entry)
        violations = validate_event(envelope)
        if violations:
            return FailedEntry(event_id, CONTRACT_VIOLATION, str(_ContractError(violations)), entry)
        size = entry_size(entry)
        if size > MAX_ENTRY_BYTES:
            message = (
                f"entry is {size} bytes, over the PutEvents limit of {MAX_ENTRY_BYTES} bytes; "
                "store large before/after states elsewhere (e.g. S3) and reference them"
            )
            return FailedEntry(event_id, ENTRY_TOO_LARGE, message, entry)
        return None

    def _publish(self, entries: list[dict[str, Any] | FailedEntry]) -> PublishResult:
        result = PublishResult()
        pending: list[tuple[str, dict[str, Any]]] = []
        for item in entries:
            if isinstance(item, FailedEntry):
                result.failed.append(item)
                continue
            failure = self._check(item)
            if failure is not None:
                result.failed.append(failure)
            else:
                pending.append((_event_id_of(item) or "", item))

        attempt = 0
        while pending:
            retry: list[tuple[str, dict[str, Any]]] = []
            batches = _batches(pending)
            for index, batch in enumerate(batches):
                try:
                    response = self.client.put_events(Entries=[entry for _, entry in batch])
                except (ClientError, BotoCoreError) as exc:
                    code, message = _call_error(exc)
                    unsent = [pair for later in batches[index:] for pair in later] + retry
                    result.requests += 1
                    result.failed.extend(FailedEntry(eid, code, message, entry) for eid, entry in unsent)
                    return result
                result.requests += 1
                results = response.get("Entries") or []
                for position, (event_id, entry) in enumerate(batch):
                    answer = results[position] if position < len(results) else {"ErrorCode": NOT_SENT}
                    code = str(answer.get("ErrorCode") or "")
                    if not code:
                        result.sent.append(event_id)
                    elif code in RETRYABLE_CODES and attempt + 1 < self.max_attempts:
                        retry.append((event_id, entry))
                    else:
                        message = answer.get("ErrorMessage") or ""
                        if code in RETRYABLE_CODES:
                            message = f"{message} (still failing after {self.max_attempts} attempts)".strip()
                        result.failed.append(FailedEntry(event_id, code, message, entry))
            if retry:
                self.sleep(full_jitter_delay(attempt, self.base_delay, self.max_delay, self.rng))
                attempt += 1
            pending = retry
        return result


def _dumps(detail: object) -> str:
    """Compact JSON text, UTF-8 characters kept (they count as bytes, not as escapes, in the size rule)."""
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _event_id_of(entry: Mapping[str, Any]) -> str | None:
    try:
        detail = json.loads(entry["Detail"])
    except (KeyError, TypeError, ValueError):
        return None
    value = detail.get("event_id") if isinstance(detail, dict) else None
    return value if isinstance(value, str) and value else None


def _batches(pending: list[tuple[str, dict[str, Any]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    """Split into requests of at most 10 entries whose sizes add up to at most 256 KB, keeping order."""
    batches: list[list[tuple[str, dict[str, Any]]]] = []
    current: list[tuple[str, dict[str, Any]]] = []
    total = 0
    for pair in pending:
        size = entry_size(pair[1])
        if current and (len(current) == MAX_ENTRIES_PER_REQUEST or total + size > MAX_REQUEST_BYTES):
            batches.append(current)
            current, total = [], 0
        current.append(pair)
        total += size
    if current:
        batches.append(current)
    return batches


def _call_error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return str(error.get("Code") or "ClientError"), str(error.get("Message") or exc)
    return type(exc).__name__, str(exc)
