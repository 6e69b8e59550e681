"""The audit event contract (DESIGN §3): validate events against contract.schema.json, build envelopes.

The JSON Schema file is the contract for every language; this module wraps it for Python with messages a
service developer can act on ("detail.action: must be one of Create, Update, ... (enum)").

>>> detail = make_detail([{"entity": {"id": 42, "name": "Order 42"}}], entity_type="Order", action="Create",
...                      correlation_id="req-1", actor_name="orders", event_id="e-1")
>>> entry = {"Source": "orders", "DetailType": "OrderChanged", "Detail": json.dumps(detail)}
>>> envelope = envelope_from_entry(entry, now=datetime(2026, 11, 27, 10, 15, tzinfo=UTC))
>>> envelope["time"], validate_event(envelope)
('2026-11-27T10:15:00.000Z', [])
>>> envelope["detail"]["action"] = "Remove"
>>> print(validate_event(envelope)[0])
detail.action: must be one of Create, Update, Delete, Read, Export; got 'Remove' (enum)
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from etl import rules, schema
from etl.errors import AuditLogError

SCHEMA_FILE = "contract.schema.json"
SOURCE_PATTERN = schema.SOURCE_PATTERN
"""The source naming rule, defined once in etl/schema.py: it becomes a partition value and an SQL literal."""

TIME_RANGE_MESSAGE = (
    f"must lie between {rules.format_event_time(rules.MIN_EVENT_TIME)} and "
    f"{rules.format_event_time(rules.MAX_EVENT_TIME)} in UTC (the range the table stores, etl.rules)"
)
"""The time rule the ETL applies (an event outside it is quarantined as invalid_time), refused at ingest."""

TIME_FORMAT_MESSAGE = (
    "must be YYYY-MM-DDTHH:MM:SS[.fraction] followed by 'Z' or +HH:MM/-HH:MM, with an upper-case 'T' and 'Z' "
    "(the only form the ETL reads), e.g. 2026-11-27T10:15:00.123Z"
)
"""The time format rule in words: the schema's pattern is etl.rules' TIME_PATTERN with calendar ranges."""

ACTIONS: tuple[str, ...] = ("Create", "Update", "Delete", "Read", "Export")
ACTOR_TYPES: dict[str, int] = {"Service": 0, "User": 1, "Client": 2}
ENTRY_KEYS: tuple[str, ...] = ("Source", "DetailType", "Detail")
ROOT_PATH = "event"
"""The path shown for a violation of the whole value (e.g. the event is not an object)."""


@dataclass(frozen=True)
class ContractViolation:
    """One broken rule: where (a dotted path such as detail.entities[0].entity.id), which rule, and why."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} ({self.rule})"


class ContractError(AuditLogError, ValueError):
    """An event (or PutEvents entry) breaks the contract; `.errors` lists every violation."""

    def __init__(self, errors: Sequence[ContractViolation]) -> None:
        self.errors: list[ContractViolation] = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:10])
        more = f"; and {len(self.errors) - 10} more" if len(self.errors) > 10 else ""
        super().__init__(f"event breaks the audit event contract: {shown}{more}")


@functools.cache
def load_schema() -> dict[str, Any]:
    """The contract as a parsed JSON Schema (draft 2020-12), read once from the package."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _format_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or ROOT_PATH


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _violations(error: ValidationError) -> list[ContractViolation]:
    """Turn one jsonschema error into violations whose path points at the offending field."""
    parts = list(error.absolute_path)
    rule = str(error.validator)
    expected = error.validator_value
    instance = error.instance
    if rule == "required":
        present = instance if isinstance(instance, Mapping) else {}
        return [
            ContractViolation(_format_path([*parts, name]), rule, "is required")
            for name in expected
            if name not in present
        ]
    path = _format_path(parts)
    if rule == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        message = f"must be of type {wanted}, got {_json_type(instance)}"
    elif rule == "enum":
        message = f"must be one of {', '.join(str(v) for v in expected)}; got {_short(instance)}"
    elif rule == "minItems":
        message = f"must have at least {expected} item{'s' if expected != 1 else ''}"
    elif rule == "minLength":
        message = "must not be empty" if expected == 1 else f"must be at least {expected} characters long"
    elif rule == "maxLength":
        message = f"must be at most {expected} characters long"
    elif rule == "pattern" and path == "time":
        message = f"{TIME_FORMAT_MESSAGE}; got {_short(instance)}"
    elif rule == "pattern":
        message = f"must match {expected}; got {_short(instance)}"
    else:
        message = error.message
    return [ContractViolation(path, rule, message)]


def validate_event(envelope: object) -> list[ContractViolation]:
    """Every contract violation in `envelope` (an EventBridge event as delivered), sorted; empty when valid.

    Any value is accepted: a list, a string or None gives violations, never an exception.

    >>> [str(v) for v in validate_event([])]
    ['event: must be of type object, got array (type)']
    """
    found: set[ContractViolation] = set()
    for error in _validator().iter_errors(envelope):
        found.update(_violations(error))
    # A wrong type makes the other rules on that field noise ("User" is not an integer, hence not 0/1/2).
    wrong_type = {v.path for v in found if v.rule == "type"}
    time = envelope.get("time") if isinstance(envelope, Mapping) else None
    if isinstance(time, str) and not any(v.path == "time" for v in found):
        if rules.time_out_of_range(time):
            found.add(ContractViolation("time", "range", TIME_RANGE_MESSAGE + f"; got {_short(time)}"))
    kept = (v for v in found if v.rule == "type" or v.path not in wrong_type)
    return sorted(kept, key=lambda v: (v.path, v.rule, v.message))


def check_event(envelope: object) -> None:
    """Raise ContractError listing every violation when `envelope` breaks the contract."""
    errors = validate_event(envelope)
    if errors:
        raise ContractError(errors)


def is_put_events_entry(obj: object) -> bool:
    """True when `obj` looks like a PutEvents request entry (Source, DetailType, Detail) not an envelope.

    >>> is_put_events_entry({"Source": "a", "DetailType": "b", "Detail": "{}"})
    True
    >>> is_put_events_entry({"source": "a", "detail-type": "b", "detail": {}})
    False
    """
    return isinstance(obj, Mapping) and all(key in obj for key in ENTRY_KEYS)


def new_event_id() -> str:
    """A new producer-side idempotency key (a UUID4 as text)."""
    return str(uuid.uuid4())


def format_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and 'Z'; a naive datetime is taken as UTC.

    >>> format_time(datetime(2026, 1, 2, 3, 4, 5, 678901))
    '2026-01-02T03:04:05.678Z'
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _entry_time(value: object) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_time(datetime.fromtimestamp(value, tz=UTC))
    if isinstance(value, str):
        try:
            return format_time(datetime.fromisoformat(value))
        except ValueError:
            pass
    message = f"must be a datetime, epoch seconds or ISO-8601 text; got {_short(value)}"
    raise ContractError([ContractViolation("Time", "format", message)])


def envelope_from_entry(
    entry: Mapping[str, Any],
    *,
    now: datetime | None = None,
    account: str = "000000000000",
    region: str = "local",
) -> dict[str, Any]:
    """The envelope EventBridge would deliver for one PutEvents request entry (used by the local sink).

    `id` is a new UUID and `time` is the entry's Time, else `now`, else the current time (UTC, with 'Z').
    Unlike EventBridge, which delivers whole seconds, the time keeps milliseconds so that changes made within
    one second keep their order locally. Raises ContractError when Source, DetailType or Detail is missing or
    Detail is not a JSON object; the envelope itself is not validated (call validate_event for that).
    """
    if not isinstance(entry, Mapping):
        message = f"must be of type object, got {_json_type(entry)}"
        raise ContractError([ContractViolation(ROOT_PATH, "type", message)])
    missing = [ContractViolation(key, "required", "is required") for key in ENTRY_KEYS if key not in entry]
    if missing:
        raise ContractError(missing)
    raw = entry["Detail"]
    if not isinstance(raw, str | bytes | bytearray):
        raise ContractError(
            [ContractViolation("Detail", "type", f"must be a JSON object as text, got {_json_type(raw)}")]
        )
    try:
        detail = json.loads(raw)
    except ValueError as exc:
        raise ContractError([ContractViolation("Detail", "type", f"is not valid JSON: {exc}")]) from None
    if not isinstance(detail, dict):
        raise ContractError(
            [ContractViolation("Detail", "type", f"must be a JSON object, got {_json_type(detail)}")]
        )
    if entry.get("Time") is not None:
        time_text = _entry_time(entry["Time"])
    else:
        time_text = format_time(now or datetime.now(UTC))
    resources_value = entry.get("Resources") or []
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": account,
        "time": time_text,
        "region": region,
        "resources": list(resources_value) if isinstance(resources_value, list | tuple) else resources_value,
        "detail": detail,
    }


def make_entity(
    entity_id: str | int,
    name: str | None = None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    parent: Mapping[str, Any] | None = None,
    channel_code: str | None = None,
    channel_account_code: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One `detail.entities` item; only the keys given are set (extra keywords go into `entity`).

    >>> make_entity(7, "Line 7", after={"qty": 2}, parent={"id": 42, "type": "Order"})
    {'entity': {'id': 7, 'name': 'Line 7'}, 'after': {'qty': 2}, 'parent': {'id': 42, 'type': 'Order'}}
    """
    entity: dict[str, Any] = {"id": entity_id}
    if name is not None:
        entity["name"] = name
    entity.update(extra)
    item: dict[str, Any] = {"entity": entity}
    optional = {
        "before": before,
        "after": after,
        "parent": parent,
        "channel_code": channel_code,
        "channel_account_code": channel_account_code,
    }
    item.update({key: dict(value) if isinstance(value, Mapping) else value
                 for key, value in optional.items() if value is not None})
    return item


def make_detail(
    entities: Iterable[Mapping[str, Any]],
    *,
    entity_type: str,
    action: str,
    correlation_id: str,
    actor_name: str,
    actor_type: int | str = 0,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A `detail` object for the contract; `actor_type` is 0/1/2 or 'Service'/'User'/'Client'.

    The result is not validated here (publishers validate the full event before sending).
    """
    code = ACTOR_TYPES.get(actor_type, actor_type) if isinstance(actor_type, str) else actor_type
    detail: dict[str, Any] = {
        "entities": [dict(item) for item in entities],
        "entity_type": entity_type,
        "action": action,
        "correlation_id": correlation_id,
        "actor": {"type": code, "name": actor_name},
    }
    if event_id is not None:
        detail["event_id"] = event_id
    return detail
