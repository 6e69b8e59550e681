"""The one filter table (in the spirit of Datasette's filters.py): every filter of the audit log view, once.

Each row names the `AuditLogQuery` field, the column it reads, its kind, the CLI flag, the URL key, the form
label and the help text. The model's validation, the SQL builder, the CLI flags, the explorer's URL state and
form, the export command line and the error labels all loop over `FILTERS`; a new filter is one row here
(plus a model field) and, at most, one new SQL kind in audit_query/sql.py.

Kinds: "exact" (column = value), "set" (column IN values), "contains" (case-insensitive substring: LIKE with
`%`, `_` and the escape character escaped by audit_query/formatter.py), "changed" (the Changes column: "field
F changed", one or more fields, optionally "from V" / "to V" on the same change entry; the three rows make one
condition), "flag" (a switch the builder reads, e.g. include children or the explorer's own access events).
A row is `many` (a list of values: repeatable flag, repeated URL key) when its kind is "set" or it says
`repeatable`. Dates are not rows: they are the partition range every query has (`--from/--to`); nor is the
order (newest or oldest first, `--order`), which is not a filter.

>>> [f.flag for f in FILTERS if f.kind == "contains"]
['--actor-contains', '--entity-name-contains']
>>> by_name("actor_name").url_key
'actor'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Kind = Literal["exact", "set", "contains", "changed", "flag"]
Widget = Literal["multiselect", "text", "list_text", "checkbox"]

#: The source of the explorer's (and the CLI's) own access events (audit_events.access.ACCESS_SOURCE): left
#: out of a search that names no sources unless the "include_explorer_events" switch asks for it.
EXPLORER_SOURCE = "auditlog.explorer"
CHANGED_FIELD_FLAG = "--changed-field"


class Action(StrEnum):
    """What happened to an entity (DESIGN §3); Read and Export are the explorer's own access events."""

    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"
    READ = "Read"
    EXPORT = "Export"


class ActorType(StrEnum):
    """Who acted: codes 0/1/2 of the event contract, stored as these names."""

    SERVICE = "Service"
    USER = "User"
    CLIENT = "Client"


@dataclass(frozen=True)
class Filter:
    """One filter: where it lives in each consumer. `column` None means the SQL builder handles the field
    itself (the entity id's UNION ALL branches, the include-children switch)."""

    name: str
    kind: Kind
    column: str | None
    flag: str
    url_key: str
    label: str
    help: str
    metavar: str = "V"
    choices: type[StrEnum] | None = None
    widget: Widget = "text"
    placeholder: str = ""
    repeatable: bool = False

    @property
    def many(self) -> bool:
        """Whether the filter takes a list of values (a repeatable flag, a repeated URL key, a tuple)."""
        return self.kind == "set" or self.repeatable

    @property
    def free_text(self) -> bool:
        """Whether a value is typed by a person (written `--flag=value` so a leading '-' is not an option)."""
        return self.choices is None and self.kind != "flag"

    def values(self, value: object) -> tuple[str, ...]:
        """The filter's value as a tuple of strings (empty when unset), for command lines and URLs."""
        if value is None or value is False:
            return ()
        if value is True:
            return ("1",)
        if isinstance(value, tuple | list):
            return tuple(str(getattr(v, "value", v)) for v in value)
        return (str(getattr(value, "value", value)),)


FILTERS: tuple[Filter, ...] = (
    Filter("sources", "set", "source", "--source", "src", "Sources",
           "event source, repeatable (default: every discovered source)", "S", widget="multiselect",
           placeholder="All sources you may read"),
    Filter("entity_types", "set", "EntityType", "--entity-type", "etype", "Entity types", "repeatable", "T",
           widget="multiselect", placeholder="Any"),
    Filter("actions", "set", "Action", "--action", "act", "Actions",
           f"repeatable; one of {', '.join(a.value for a in Action)}", "A", Action, "multiselect", "Any"),
    Filter("actor_types", "set", "ActorType", "--actor-type", "atype", "Actor types",
           f"repeatable; one of {', '.join(t.value for t in ActorType)}", "T", ActorType, "multiselect",
           "Any"),
    Filter("actor_name", "exact", "ActorName", "--actor", "actor", "Actor name", "actor name (exact)", "NAME",
           placeholder="exact, e.g. alice@example.com"),
    Filter("correlation_id", "exact", "CorrelationId", "--correlation-id", "corr", "Correlation id",
           "every row of one request", "C"),
    Filter("channel_codes", "set", "ChannelCode", "--channel", "ch", "Channels", "repeatable", "C",
           widget="list_text", placeholder="e.g. web, ios (comma-separated)"),
    Filter("actor_contains", "contains", "ActorName", "--actor-contains", "actorq", "Actor contains",
           "actor name contains this text (any case)", "S", placeholder="any part, e.g. alice"),
    Filter("entity_id", "exact", None, "--entity-id", "eid", "Entity id", "one entity's changes", "ID",
           placeholder="e.g. an order number"),
    Filter("include_children", "flag", None, "--include-children", "children", "Include children",
           "with --entity-id: also the entity's children", widget="checkbox"),
    Filter("entity_name_contains", "contains", "EntityName", "--entity-name-contains", "enameq",
           "Entity name contains", "entity name contains this text (any case)", "S",
           placeholder="any part of the name"),
    Filter("changed_fields", "changed", "Changes", "--changed-field", "chf", "Changed field",
           "a field whose value changed (top-level key, or key.sub one level down); repeatable: any of them. "
           "Alone it also finds fields added or removed", "F", widget="list_text",
           placeholder="e.g. status, email (comma-separated)", repeatable=True),
    Filter("changed_from", "changed", "Changes", "--changed-from", "chfrom", "Changed from",
           f"with {CHANGED_FIELD_FLAG}: its value before, typed as read (Cancelled, 5, true, "
           "null: a JSON null); never matches a field that was added", "V",
           placeholder="value before, e.g. Paid"),
    Filter("changed_to", "changed", "Changes", "--changed-to", "chto", "Changed to",
           f"with {CHANGED_FIELD_FLAG}: its value after, typed as read (Cancelled matches \"Cancelled\" in "
           "any case, 5 matches 5 and \"5\"); never matches a field that was removed", "V",
           placeholder="value after, e.g. Cancelled"),
    Filter("include_explorer_events", "flag", None, "--include-explorer-events", "xev",
           "Include explorer access events",
           f"also search the explorer's own access events (source {EXPLORER_SOURCE}) when no source is "
           "chosen; a chosen source is always searched", widget="checkbox"),
)


def by_name(name: str) -> Filter:
    """The filter row of the AuditLogQuery field `name` (KeyError names the known ones)."""
    for f in FILTERS:
        if f.name == name:
            return f
    raise KeyError(f"{name!r} is not a filter; known: {', '.join(f.name for f in FILTERS)}")


def default_sources(discovered: Iterable[str], include_explorer_events: bool = False) -> tuple[str, ...]:
    """The sources a search covers when none are chosen: every discovered one, except the explorer's own
    access events (EXPLORER_SOURCE) unless `include_explorer_events`; chosen sources are searched as given.

    >>> default_sources(["auditlog.explorer", "shop.orders"]), default_sources(["auditlog.explorer"], True)
    (('shop.orders',), ('auditlog.explorer',))
    """
    return tuple(s for s in discovered if include_explorer_events or s != EXPLORER_SOURCE)
