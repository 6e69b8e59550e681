"""The audit table schema, defined once (DESIGN §2, §4).

Everything else derives from these tuples: the local ETL's column types, the Glue job's schema, the
Athena DDL in infra/ and the query library's column allowlist. Order matters: it is the file order. The
last column, Changes, is derived by the ETLs from Before/After (etl.rules.changes); the others come from
the event. Files written before it existed lack it: readers take it as NULL.

>>> [c.name for c in COLUMNS][:3]
['Id', 'EventId', 'Timestamp']
>>> column("Before").athena_type
'string'
>>> COLUMNS[-1].name, column("Changes").athena_type
('Changes', 'array<struct<field:string,before:string,after:string>>')
>>> [c.name for c in PARTITION_COLUMNS]
['dt', 'source']
>>> index_arrow_schema().names
['Key', 'dt', 'source']
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TABLE_NAME = "auditlog"


@dataclass(frozen=True)
class Column:
    """One table column: its name and its type in each engine that reads or writes it."""

    name: str
    athena_type: str
    duckdb_type: str
    arrow_type: pa.DataType
    description: str


def _s(name: str, description: str) -> Column:
    return Column(name, "string", "VARCHAR", pa.string(), description)


CHANGE_FIELDS: tuple[str, ...] = ("Field", "Before", "After")
CHANGE_TYPE: pa.DataType = pa.list_(pa.struct([(name, pa.string()) for name in CHANGE_FIELDS]))
"""The Changes column's Arrow type: one (Field, Before, After) entry per changed field, sorted by Field."""

COLUMNS: tuple[Column, ...] = (
    _s("Id", "dedup key + ':' + entity position; unique per row"),
    _s("EventId", "dedup key: detail.event_id when present, else the envelope id"),
    Column(
        "Timestamp",
        "timestamp",
        "TIMESTAMP_MS",
        pa.timestamp("ms"),
        "event time (envelope `time`), UTC, millisecond precision, stored as INT64 millis",
    ),
    _s("DetailType", "envelope detail-type"),
    _s("ActorName", "detail.actor.name"),
    _s("ActorType", "'Service', 'User', 'Client', or the raw code when unknown"),
    _s("EntityId", "entities[i].entity.id, numbers stored as their JSON text"),
    _s("EntityName", "entities[i].entity.name"),
    _s("EntityType", "detail.entity_type"),
    _s("EntityParentId", "entities[i].parent.id"),
    _s("EntityParentName", "entities[i].parent.name"),
    _s("EntityParentType", "entities[i].parent.type"),
    _s("ChannelCode", "entities[i].channel_code"),
    _s("ChannelAccountCode", "entities[i].channel_account_code"),
    _s("Action", "detail.action: Create, Update, Delete, Read, Export or the raw string"),
    _s("Before", "entities[i].before as the original JSON text"),
    _s("After", "entities[i].after as the original JSON text"),
    _s("CorrelationId", "detail.correlation_id"),
    Column(
        "Changes",
        "array<struct<field:string,before:string,after:string>>",
        'STRUCT("Field" VARCHAR, "Before" VARCHAR, "After" VARCHAR)[]',
        CHANGE_TYPE,
        "field changes derived from Before/After (etl.rules.changes): Field (key or key.sub), Before and "
        "After as JSON text (NULL: absent on that side); empty when nothing differs",
    ),
)

PARTITION_COLUMNS: tuple[Column, ...] = (
    _s("dt", "the event's UTC date, YYYY-MM-DD"),
    _s("source", "envelope source"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
ALL_COLUMNS: tuple[Column, ...] = COLUMNS + PARTITION_COLUMNS
ALL_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in ALL_COLUMNS)

INDEX_COLUMNS: tuple[Column, ...] = (
    _s("Key", "an EntityId, EntityParentId or CorrelationId of the run's rows"),
    *PARTITION_COLUMNS,
)
"""The entity index file's columns (etl.layout.entity_index_key): one row per distinct (Key, dt, source) of a
run's rows, sorted by Key, dt, source; the DuckDB backend reads it to open only an entity's partitions."""
INDEX_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in INDEX_COLUMNS)
INDEX_ROW_GROUP_SIZE = 50_000

ACTOR_TYPE_NAMES: dict[int, str] = {0: "Service", 1: "User", 2: "Client"}

SOURCE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}$"
"""The one rule for a source name (use with re.fullmatch): the contract requires it, the ETL quarantines a
source that breaks it, and the query library accepts only it. A source becomes a partition folder and an SQL
literal, so it is kept to lower-case letters, digits, '.', '_' and '-'."""


def column(name: str) -> Column:
    """Return the column called `name` (data or partition); KeyError names the allowed ones."""
    for c in ALL_COLUMNS:
        if c.name == name:
            return c
    raise KeyError(f"unknown column {name!r}; allowed: {', '.join(ALL_COLUMN_NAMES)}")


def arrow_schema() -> pa.Schema:
    """The Parquet file schema (data columns only; partitions live in the path)."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in COLUMNS])


def index_arrow_schema() -> pa.Schema:
    """The entity index file schema (INDEX_COLUMNS)."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in INDEX_COLUMNS])
