"""Personal data masked at read time, inside the library, for readers without the `pii` role (DESIGN §10).

Rules come from a JSON file (AUDITLOG_MASKING_RULES), per source, with "*" for every source:

    {"*":          {"fields": ["email", "phone"]},
     "shop.users": {"fields": ["address.*", "profile.birthday"], "entity_name": true, "actor_name": true}}

- `fields`: Before/After keys that hold personal data. A bare name (`email`) masks that key at any depth; a
  dotted path (`profile.birthday`) masks that path from the top; `prefix.*` masks everything under prefix.
  A masked value reads "(masked)"; where it changed between Before and After, the After side reads
  "changed (masked)", so a diff still says *that* it changed, never from what to what.
  The Changes entries are masked the same way (mask_changes), and a value filter on a masked field is
  refused (MaskedClient._refuse_masked_values), since its count would confirm a guessed value.
- `entity_name`, `parent_name`, `actor_name`: those columns are personal in that source. They become a
  stable pseudonym ("masked-1a2b3c4d", a keyed hash with a per-process key), so a reader can still tell that
  two rows name the same person without learning who. Actor names of Service and Client actors are systems,
  not people, and stay readable in rows; counts grouped by actor cannot tell them apart and mask them all.

Queries still run on the real values (a filter on a masked field works); only what leaves the library is
masked. `MaskedClient` is an `AuditLogClient` over the same backend that masks every row, count and export.

>>> rules = MaskingRules.from_dict({"shop.users": {"fields": ["email", "address.*"], "actor_name": True}})
>>> rules.mask_json("shop.users", '{"id": 7, "email": "a@x.io", "address": {"city": "Oslo"}}')
'{"id":7,"email":"(masked)","address":"(masked)"}'
>>> rules.mask_pair("shop.users", '{"email": "a@x.io"}', '{"email": "b@x.io"}')
('{"email":"(masked)"}', '{"email":"changed (masked)"}')
>>> rules.mask_json("shop.orders", '{"email": "a@x.io"}')  # no rule for that source: unchanged
'{"email": "a@x.io"}'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from etl.errors import ConfigurationError
from etl.settings import Settings, read_json_setting, setting

from .client import AuditLogClient
from .errors import QueryValidationError
from .model import GROUP_BY_COLUMNS, AuditLogQuery, AuditRecord, ChangeEntry, Count, CountRow, Page, Rows

MASK = "(masked)"
CHANGED_MASK = "changed (masked)"
ALL_SOURCES = "*"
NAME_COLUMNS = {"entity_name": "EntityName", "parent_name": "EntityParentName", "actor_name": "ActorName"}
RULES_ENV = "AUDITLOG_MASKING_RULES"
SYSTEM_ACTORS = frozenset({"Service", "Client"})
ACCESS_SOURCE = "auditlog.explorer"  # audit_events.access.ACCESS_SOURCE (not imported: no UI-side deps)

_PSEUDONYM_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class MaskingSettings(Settings):
    """Where the masking rules live."""

    masking_rules: str = setting(
        "",
        "path of the JSON file naming, per source, the before/after fields and name columns that hold "
        "personal data; readers without the pii role see them masked (empty: nothing is masked)",
    )


def pseudonym(value: str) -> str:
    """A stable stand-in for a personal name: the same input gives the same text within this process.

    >>> pseudonym("alice") == pseudonym("alice") != pseudonym("bob"), pseudonym("alice").startswith("masked-")
    (True, True)
    """
    digest = hmac.new(_PSEUDONYM_KEY, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"masked-{digest[:8]}"


@dataclass(frozen=True)
class SourceRules:
    """What is personal in one source: before/after field patterns and name columns."""

    fields: tuple[str, ...] = ()
    columns: frozenset[str] = frozenset()

    def masks_path(self, path: tuple[str, ...]) -> bool:
        """Whether the value at `path` (keys from the top of Before/After) is personal."""
        dotted = ".".join(path)
        for pattern in self.fields:
            if pattern.endswith(".*"):
                prefix = pattern[:-2]
                if dotted == prefix or dotted.startswith(prefix + "."):
                    return True
            elif "." in pattern:
                if dotted == pattern:
                    return True
            elif path and path[-1] == pattern:
                return True
        return False

    def merged(self, other: SourceRules) -> SourceRules:
        """These rules and `other`'s together (a source's own rules plus the "*" rules)."""
        return SourceRules(tuple(dict.fromkeys(self.fields + other.fields)), self.columns | other.columns)


def _source_rules(source: str, entry: object, where: str) -> SourceRules:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: the rules of {source!r} must be an object")
    unknown = sorted(set(entry) - {"fields", *NAME_COLUMNS})
    if unknown:
        known = ["fields", *NAME_COLUMNS]
        raise ConfigurationError(f"{where}: {source!r} has unknown keys {unknown}; known: {known}")
    fields_ = entry.get("fields", [])
    if not isinstance(fields_, list) or not all(isinstance(f, str) and f.strip(".*") for f in fields_):
        raise ConfigurationError(f"{where}: {source!r}: 'fields' must be a list of field names or paths")
    columns = set()
    for key, column in NAME_COLUMNS.items():
        flag = entry.get(key, False)
        if not isinstance(flag, bool):
            raise ConfigurationError(f"{where}: {source!r}: {key!r} must be true or false")
        if flag:
            columns.add(column)
    return SourceRules(tuple(fields_), frozenset(columns))


def _walk(value: Any, other: Any, path: tuple[str, ...], rules: SourceRules, changed_side: bool) -> Any:
    """`value` with personal parts replaced; `other` is the same place on the other side (or _NONE)."""
    if rules.masks_path(path) and path:
        if changed_side and other is not _NONE and other != value:
            return CHANGED_MASK
        return MASK
    if isinstance(value, dict):
        twin = other if isinstance(other, dict) else {}
        return {
            k: _walk(v, twin.get(k, _NONE), (*path, str(k)), rules, changed_side) for k, v in value.items()
        }
    if isinstance(value, list):
        twin_list = other if isinstance(other, list) else []
        return [
            _walk(v, twin_list[i] if i < len(twin_list) else _NONE, path, rules, changed_side)
            for i, v in enumerate(value)
        ]
    return value


_NONE = object()


def _mask_value(
    text: str | None, twin: str | None, path: tuple[str, ...], rules: SourceRules, changed_side: bool
) -> str | None:
    """One side of a Changes entry (the value at `path`) masked; `twin` is the other side's text."""
    if text is None:
        return None
    value = _parse(text)
    if value is _NONE:  # not JSON: only a masked field hides it whole
        return _dump(MASK) if path and rules.masks_path(path) else text
    masked = _walk(value, _parse(twin), path, rules, changed_side)
    return text if masked == value else _dump(masked)


class _Number(str):
    """A JSON number kept as its text, so unmasked numbers read back exactly (1.10 stays 1.10)."""


def _parse(text: str | None) -> Any:
    if text is None:
        return _NONE
    try:
        return json.loads(text, parse_float=_Number, parse_int=_Number)
    except ValueError:
        return _NONE


def _dump(value: Any) -> str:
    """Compact JSON text of a parsed value; numbers come out as they were written."""
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=False)}:{_dump(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class MaskingRules:
    """Per-source masking rules; `for_source` merges a source's own rules with the "*" ones."""

    sources: Mapping[str, SourceRules] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object, where: str = RULES_ENV) -> MaskingRules:
        """Rules from their JSON object; ConfigurationError names the source and key that is wrong."""
        if not isinstance(data, dict):
            raise ConfigurationError(f"{where}: expected a JSON object of sources")
        return cls({str(s): _source_rules(str(s), e, where) for s, e in data.items()})

    @classmethod
    def load(cls, path: str | Path) -> MaskingRules:
        """Read the rules file; a missing or malformed file is a ConfigurationError naming it."""
        data, where = read_json_setting(path, RULES_ENV)
        return cls.from_dict(data, where)

    @classmethod
    def from_settings(cls, settings: MaskingSettings | None = None) -> MaskingRules | None:
        """The configured rules, or None when no rules file is set."""
        s = settings or MaskingSettings.from_env()
        return cls.load(s.masking_rules) if s.masking_rules else None

    def for_source(self, source: str) -> SourceRules:
        """The rules that apply to `source` (its own and the "*" ones). The explorer's own access events
        repeat what a reader typed, so where actor names are personal their actor filter and their summary
        (the entity name, which quotes the filters) are masked too."""
        own = self.sources.get(source, SourceRules())
        rules = own.merged(self.sources.get(ALL_SOURCES, SourceRules()))
        if source == ACCESS_SOURCE and any("ActorName" in r.columns for r in self.sources.values()):
            rules = rules.merged(SourceRules(("filters.actor_name",), frozenset({"EntityName"})))
        return rules

    def mask_json(self, source: str, text: str | None) -> str | None:
        """One Before/After text with its personal fields masked (unchanged when nothing applies)."""
        return self.mask_pair(source, text, None)[0]

    def mask_pair(self, source: str, before: str | None, after: str | None) -> tuple[str | None, str | None]:
        """Before and After masked together, so a changed personal field reads "changed (masked)"."""
        rules = self.for_source(source)
        if not rules.fields:
            return before, after
        old, new = _parse(before), _parse(after)

        def side(text: str | None, value: Any, twin: Any, changed_side: bool) -> str | None:
            if value is _NONE:  # absent or not JSON: nothing with keys to mask
                return text
            masked = _walk(value, twin, (), rules, changed_side)
            return text if masked == value else _dump(masked)

        return side(before, old, new, False), side(after, new, old, True)

    def mask_changes(
        self, source: str, changes: Sequence[ChangeEntry] | None
    ) -> tuple[ChangeEntry, ...] | None:
        """A row's Changes entries with personal values masked as in Before/After: a masked field's entry
        reads "(masked)" before and "changed (masked)" after; personal keys inside a value are masked too.

        >>> MaskingRules.from_dict({"*": {"fields": ["email"]}}).mask_changes(
        ...     "shop.users", [("email", '"a@x.io"', '"b@x.io"'), ("n", "1", "2")])
        (('email', '"(masked)"', '"changed (masked)"'), ('n', '1', '2'))
        """
        rules = self.for_source(source)
        if changes is None or not rules.fields:
            return None if changes is None else tuple(changes)
        out = []
        for name, before, after in changes:
            path = tuple(name.split(".")) if name else ()
            masked_before = _mask_value(before, after, path, rules, False)
            out.append((name, masked_before, _mask_value(after, before, path, rules, True)))
        return tuple(out)

    def mask_record(self, record: AuditRecord) -> AuditRecord:
        """A row as a reader without `pii` may see it (Before, After and their Changes entries)."""
        rules = self.for_source(record.source)
        if not rules.fields and not rules.columns:
            return record
        before, after = self.mask_pair(record.source, record.Before, record.After)
        changes: dict[str, Any] = {"Before": before, "After": after}
        changes["Changes"] = self.mask_changes(record.source, record.Changes)
        for column in rules.columns:
            value = getattr(record, column)
            if column == "ActorName" and record.ActorType in SYSTEM_ACTORS:
                continue  # a service or API client is not a person
            if value is not None:
                changes[column] = pseudonym(str(value))
        return replace(record, **changes)

    def masks_column(self, column: str, sources: Sequence[str]) -> bool:
        """Whether `column` is personal in any of `sources` (counts cannot tell rows of sources apart)."""
        return any(column in self.for_source(s).columns for s in sources)


class MaskedClient(AuditLogClient):
    """An AuditLogClient whose every result is masked by `rules`: same methods, same arguments. It shares
    the wrapped client's backend (and so its connection and caches)."""

    #: Public methods that return no row data, so need no masking; every other public method of
    #: AuditLogClient must be overridden here (tests/audit_query/test_masking.py checks it).
    UNMASKED = frozenset({"sources", "default_sources", "close", "unreadable_files"})

    def __init__(self, client: AuditLogClient, rules: MaskingRules) -> None:
        super().__init__(client.backend, client.settings)
        self.rules = rules

    def _rows(self, rows: list[AuditRecord]) -> Rows[AuditRecord]:
        """Masked rows, still saying which files the read left out."""
        return Rows((self.rules.mask_record(r) for r in rows), getattr(rows, "unreadable", ()))

    def _refuse_masked_values(self, q: AuditLogQuery) -> None:
        """Filters run on the real values; a value filter on a masked field would confirm a guessed value
        by its count, so without the pii role it is refused (the changed field alone is allowed)."""
        if q.changed_from is None and q.changed_to is None:
            return
        for source in q.sources:
            rules = self.rules.for_source(source)
            for name in q.changed_fields:
                path = tuple(name.split("."))
                if any(rules.masks_path(path[:i]) for i in range(1, len(path) + 1)):
                    which = "changed_to" if q.changed_to is not None else "changed_from"
                    raise QueryValidationError(
                        which,
                        "masked",
                        f"{name!r} is a masked field in {source}: searching its values needs the pii role "
                        "(search for the field changing without a value, or ask for the pii role)",
                    )

    def count(self, q: AuditLogQuery) -> Count:
        """`AuditLogClient.count`, refusing value filters on masked fields (_refuse_masked_values)."""
        self._refuse_masked_values(q)
        return super().count(q)

    def query(self, q: AuditLogQuery) -> Page:
        """`AuditLogClient.query`, masked (cursors are built from the real rows, so paging is unchanged)."""
        self._refuse_masked_values(q)
        page = super().query(q)
        return replace(page, rows=self._rows(page.rows))

    def iter_pages(self, q: AuditLogQuery) -> Iterator[Page]:
        """Every page of `q`, masked (what export walks)."""
        return super().iter_pages(q)  # it pages through self.query, which masks

    def counts(self, q: AuditLogQuery, group_by: str | Sequence[str]) -> Rows[CountRow]:
        """`AuditLogClient.counts` with personal group keys (actor names) pseudonymised."""
        self._refuse_masked_values(q)
        rows = super().counts(q, group_by)
        groups = [group_by] if isinstance(group_by, str) else list(group_by)
        masked = [self.rules.masks_column(GROUP_BY_COLUMNS.get(g, ""), q.sources) for g in groups]
        if not any(masked):
            return rows

        def hide(value: str | None, on: bool) -> str | None:
            return pseudonym(value) if on and value is not None else value

        second = len(masked) > 1 and masked[1]
        hidden = (replace(r, key=hide(r.key, masked[0]), key2=hide(r.key2, second)) for r in rows)
        return Rows(hidden, getattr(rows, "unreadable", ()))

    def history(self, entity_id: str, **kwargs: Any) -> Rows[AuditRecord]:
        """`AuditLogClient.history`, masked."""
        return self._rows(super().history(entity_id, **kwargs))

    def correlation(self, correlation_id: str, **kwargs: Any) -> Rows[AuditRecord]:
        """`AuditLogClient.correlation`, masked."""
        return self._rows(super().correlation(correlation_id, **kwargs))
