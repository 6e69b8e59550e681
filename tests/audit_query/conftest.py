"""Real Parquet fixtures in the ETL's exact layout (analytics/auditlog/dt=/source=/run-*.parquet), written
with pyarrow from etl.schema.arrow_schema(), plus the rows as Python dicts to compute expected results."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit_query import AuditLogClient, QuerySettings
from audit_query import sql as builder
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.model import check_text
from etl import layout, schema
from tests.sqli import sqli_lines

DAYS = (date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26))
SOURCES = ("billing", "crm-app", "shop.orders")
HOSTILE_SOURCE = "sqli.test"
HOSTILE_DAY = date(2026, 11, 25)
SETTINGS = QuerySettings(cursor_secret=b"test-secret")


def is_acceptable(value: str) -> bool:
    """Whether the model accepts `value` as a text filter under SETTINGS."""
    try:
        check_text(value, "x", SETTINGS.max_string_length)
    except ValueError:
        return False
    return True


def make_row(row_id: str, ts: datetime, source: str, **values: Any) -> dict[str, Any]:
    """One table row (every schema column) plus dt/source; unspecified columns are NULL."""
    row: dict[str, Any] = dict.fromkeys(schema.COLUMN_NAMES)
    row.update(Id=row_id, EventId=row_id.split(":")[0], Timestamp=ts, DetailType="EntityChanged")
    row.update(values)
    row["dt"] = ts.date().isoformat()
    row["source"] = source
    return row


def page_sql(table: str, where: str, limit: int, order: str = "DESC") -> str:
    """The whole keyset-page statement of either dialect (sql.build_page_sql), written out once for the
    Athena and DuckDB tests: the keys' Top-N over `where` (its lines, each ending in a newline), then the
    full rows joined to those keys, in `order` with `limit` rows."""
    cols = builder.select_list()
    r_cols = ", ".join(f"r.{c}" for c in cols.split(", "))
    return (
        f'WITH k AS (\nSELECT "Timestamp", "Id", "dt", "source"\nFROM {table}\n{where}'
        f'ORDER BY "Timestamp" {order}, "Id" {order}\nLIMIT {limit}\n)\n'
        f"SELECT {r_cols}\nFROM (\nSELECT {cols}\nFROM {table}\n{where}) AS r\n"
        'JOIN (SELECT DISTINCT * FROM k) AS k ON r."Timestamp" = k."Timestamp" AND r."Id" = k."Id"'
        ' AND r."dt" = k."dt" AND r."source" = k."source"\n'
        f'ORDER BY r."Timestamp" {order}, r."Id" {order}\nLIMIT {limit}'
    )


def write_rows(data_dir: Path, rows: list[dict[str, Any]], run_id: str = "run-20261127") -> None:
    """Write rows as the ETL does: one file per (dt, source), sorted by (EntityId, Timestamp, Id)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dt"], r["source"]), []).append(r)
    for (dt, source), part in groups.items():
        folder = data_dir / layout.analytics_partition_prefix(date.fromisoformat(dt), source)
        folder.mkdir(parents=True, exist_ok=True)
        part = sorted(part, key=lambda r: (r["EntityId"] or "", r["Timestamp"], r["Id"]))
        table = pa.Table.from_pylist(
            [{k: r[k] for k in schema.COLUMN_NAMES} for r in part], schema=schema.arrow_schema()
        )
        pq.write_table(table, folder / f"{run_id}.parquet", compression="zstd", row_group_size=10_000)


def base_rows() -> list[dict[str, Any]]:
    """A small, varied log: equal timestamps in runs of 7, an entity tree, a cross-source correlation."""
    rnd = random.Random(7)
    actions = ["Create", "Update", "Delete", "Read", "Export", "Archive"]
    actor_types = ["Service", "User", "Client", None, "7"]
    actors = ["alice", "bob", "svc-orders", None]
    rows = []
    for day in DAYS:
        for s_i, source in enumerate(SOURCES):
            for i in range(40):
                ts = datetime(day.year, day.month, day.day, 12) + timedelta(seconds=i // 7, milliseconds=s_i)
                entity = f"order-{i % 5}" if i % 3 else f"line-{i % 4}"
                parent = "order-1" if entity.startswith("line-") and i % 2 else None
                rows.append(
                    make_row(
                        f"{rnd.getrandbits(48):012x}:{i % 2}",
                        ts,
                        source,
                        ActorName=actors[i % len(actors)],
                        ActorType=actor_types[i % len(actor_types)],
                        EntityId=entity,
                        EntityName=entity.title(),
                        EntityType="Order" if entity.startswith("order") else "OrderLine",
                        EntityParentId=parent,
                        EntityParentType="Order" if parent else None,
                        ChannelCode=["web", "app", None][i % 3],
                        Action=actions[i % len(actions)],
                        Before='{"b":1}' if i % 2 else None,
                        After='{"a":"x\\"y"}',
                        CorrelationId="corr-A" if i % 10 == 0 else f"corr-{day.day}-{i}",
                    )
                )
    # an item whose parent is itself: must appear once in an entity-with-children history
    rows.append(
        make_row(
            "self-parent:0",
            datetime(2026, 11, 25, 9),
            "shop.orders",
            EntityId="order-1",
            EntityParentId="order-1",
            EntityType="Order",
            Action="Update",
            CorrelationId="corr-A",
        )
    )
    return rows


def hostile_rows() -> list[dict[str, Any]]:
    """One row per acceptable adversarial line, the line in every string filter column, and a child row."""
    rows = []
    base = datetime(HOSTILE_DAY.year, HOSTILE_DAY.month, HOSTILE_DAY.day, 8)
    for n, line in enumerate(v for v in sqli_lines() if is_acceptable(v)):
        ts = base + timedelta(seconds=n)
        rows.append(
            make_row(
                f"h{n:04d}:0",
                ts,
                HOSTILE_SOURCE,
                ActorName=line,
                EntityId=line,
                EntityName=line,
                EntityType=line,
                ChannelCode=line,
                CorrelationId=line,
                Action="Update",
                ActorType="User",
            )
        )
        rows.append(
            make_row(
                f"h{n:04d}:1",
                ts,
                HOSTILE_SOURCE,
                EntityId=f"child-{n}",
                EntityParentId=line,
                EntityType="Child",
                Action="Update",
                ActorName="x" + line,
                CorrelationId=line + "x",
            )
        )
    return rows


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A data folder holding base and hostile rows, and those rows (the oracle for expected results)."""
    data_dir = tmp_path_factory.mktemp("data")
    rows = base_rows() + hostile_rows()
    write_rows(data_dir, rows)
    return data_dir, rows


@pytest.fixture(scope="session")
def backend(dataset: tuple[Path, list[dict[str, Any]]]) -> DuckDBBackend:
    """A DuckDB backend over the dataset, shared by the tests of one worker."""
    b = DuckDBBackend(dataset[0])
    yield b
    b.close()


@pytest.fixture()
def client(backend: DuckDBBackend) -> AuditLogClient:
    """A client with a fixed cursor secret."""
    return AuditLogClient(backend, SETTINGS)


@pytest.fixture()
def rows(dataset: tuple[Path, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows written to the dataset."""
    return dataset[1]
