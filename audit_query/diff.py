"""Field-level diffs of an entity's before/after JSON text and its state at a point in time (no UI code).

The audit table keeps `Before`/`After` as the producer's original JSON text. `diff_json` compares them field
by field, nested keys as dotted paths (list items as `[i]`), in the order the fields appear (after's order,
then fields only `before` had). `state_at` rebuilds what each entity looked like at a moment from the
before/after maps of its changes.

>>> [(c.path, c.kind) for c in diff_json('{"a": 1, "b": {"c": 2}}', '{"a": 1, "b": {"c": 3}, "d": [4]}')]
[('a', 'unchanged'), ('b.c', 'changed'), ('d[0]', 'added')]
>>> [(c.path, c.kind, c.before) for c in diff_json('{"x": "gone"}', None)]
[('x', 'removed', 'gone')]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

ChangeKind = Literal["added", "removed", "changed", "unchanged"]
KINDS: tuple[ChangeKind, ...] = ("added", "removed", "changed", "unchanged")
ROOT = "(value)"
"""Path shown for a before/after that is not a JSON object (a bare value, or text that is not JSON)."""

_MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    """One leaf field: its dotted `path`, what happened to it, and its values (None when absent)."""

    path: str
    kind: ChangeKind
    before: Any = None
    after: Any = None


def parse_json_text(text: str | None) -> Any:
    """The parsed value of `text`; None for None/empty, the text itself when it is not valid JSON.

    >>> parse_json_text('{"a": [1, 2]}'), parse_json_text(None), parse_json_text("not json")
    ({'a': [1, 2]}, None, 'not json')
    """
    if text is None or text.strip() == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _key(prefix: str, key: str) -> str:
    # Keys that would make a path ambiguous are quoted: a.b vs ["a.b"].
    part = key if key and not any(ch in key for ch in '.[]"') else f"[{json.dumps(key, ensure_ascii=False)}]"
    if part.startswith("["):
        return prefix + part
    return f"{prefix}.{part}" if prefix else part


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values of a JSON value by dotted path; empty objects and lists stay leaves.

    >>> flatten({"a": {"b": 1, "c": [True, {"d": None}]}, "e.f": {}})
    {'a.b': 1, 'a.c[0]': True, 'a.c[1].d': None, '["e.f"]': {}}
    >>> flatten(5)
    {'(value)': 5}
    """
    out: dict[str, Any] = {}
    if isinstance(value, dict) and value:
        for k, v in value.items():
            out.update(flatten(v, _key(prefix, str(k))))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix or ROOT] = value
    return out


def _same(a: Any, b: Any) -> bool:
    # JSON-typed equality: 1, 1.0 and true are different values here (Python says 1 == 1.0 == True).
    if type(a) is not type(b):
        return False
    if isinstance(a, dict | list):
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return bool(a == b)


def diff_values(before: Any, after: Any) -> list[FieldChange]:
    """Field changes between two parsed JSON values (None = no map); see `diff_json`."""
    old = {} if before is None else flatten(before)
    new = {} if after is None else flatten(after)
    changes: list[FieldChange] = []
    for path, value in new.items():
        prev = old.get(path, _MISSING)
        if prev is _MISSING:
            changes.append(FieldChange(path, "added", None, value))
        elif _same(prev, value):
            changes.append(FieldChange(path, "unchanged", prev, value))
        else:
            changes.append(FieldChange(path, "changed", prev, value))
    for path, value in old.items():
        if path not in new:
            changes.append(FieldChange(path, "removed", value, None))
    return changes


def diff_json(before: str | None, after: str | None) -> list[FieldChange]:
    """Field-by-field comparison of two JSON texts (either may be None: a create or a delete).

    Text that is not JSON is compared as one value at path "(value)".

    >>> [(c.path, c.kind, c.before, c.after) for c in diff_json('{"n": 1}', '{"n": 1.0}')]
    [('n', 'changed', 1, 1.0)]
    """
    return diff_values(parse_json_text(before), parse_json_text(after))


def summarize(changes: Iterable[FieldChange]) -> dict[str, int]:
    """How many fields of each kind, every kind present (for a one-line summary).

    >>> summarize(diff_json('{"a": 1, "b": 2}', '{"a": 1, "b": 3, "c": 4}'))
    {'added': 1, 'removed': 0, 'changed': 1, 'unchanged': 1}
    """
    counts: dict[str, int] = dict.fromkeys(KINDS, 0)
    for c in changes:
        counts[c.kind] += 1
    return counts


class ChangeRecord(Protocol):
    """What `state_at` needs of a row (an `AuditRecord` has all of it)."""

    Timestamp: datetime
    Id: str
    EntityType: str | None
    EntityId: str | None
    Action: str | None
    Before: str | None
    After: str | None


@dataclass(frozen=True)
class EntityState:
    """One entity at a point in time: `exists` false when it was not yet created or already deleted.

    `as_of` is the time of the change the state comes from (None when it comes from a later change's
    `before`, i.e. the entity existed before the first change we have).
    """

    entity_type: str | None
    entity_id: str | None
    exists: bool
    state: Any
    as_of: datetime | None


EntityKey = tuple[str | None, str | None]


def state_at(records: Iterable[ChangeRecord], point_in_time: datetime) -> dict[EntityKey, EntityState]:
    """Each entity's state at `point_in_time`, rebuilt from its changes' before/after maps.

    The state is the `After` of the entity's last change at or before that moment (a Delete, or a change
    with no `After`, means it no longer existed). With no change yet, it is the `Before` of its first later
    change when that has one (it existed already), else the entity did not exist yet. Keys are
    (EntityType, EntityId), in order of first appearance.

    >>> from datetime import UTC
    >>> from types import SimpleNamespace as R
    >>> t = lambda h: datetime(2026, 11, 27, h, tzinfo=UTC)
    >>> rows = [R(Timestamp=t(9), Id="2", EntityType="Order", EntityId="1", Action="Update",
    ...           Before='{"s": "new"}', After='{"s": "paid"}'),
    ...         R(Timestamp=t(8), Id="1", EntityType="Order", EntityId="1", Action="Create",
    ...           Before=None, After='{"s": "new"}')]
    >>> [state_at(rows, t(h))[("Order", "1")].state for h in (7, 8, 10)]
    [None, {'s': 'new'}, {'s': 'paid'}]
    """
    if point_in_time.tzinfo is None:
        raise ValueError("point_in_time must be timezone-aware (UTC); naive datetimes are ambiguous")
    by_entity: dict[EntityKey, list[ChangeRecord]] = {}
    for r in records:
        by_entity.setdefault((r.EntityType, r.EntityId), []).append(r)
    out: dict[EntityKey, EntityState] = {}
    for key, changes in by_entity.items():
        changes.sort(key=lambda r: (r.Timestamp, r.Id))
        done = [r for r in changes if r.Timestamp <= point_in_time]
        if done:
            last = done[-1]
            after = parse_json_text(last.After)
            deleted = (last.Action or "").lower() == "delete" or after is None
            out[key] = EntityState(key[0], key[1], not deleted, None if deleted else after, last.Timestamp)
        else:
            before = parse_json_text(changes[0].Before)
            out[key] = EntityState(key[0], key[1], before is not None, before, None)
    return out
