"""Raw events for the changed-field questions (issue 13): orders whose status went to "Cancelled" (and near
misses), users whose e-mail changed, typed values (5 and "5", null, true), nested keys, added and removed
fields; sent through the local sink and the real local ETL, so the Changes column is the ETL's own. Plus one
Parquet file in the layout of before the Changes column existed. `oracle` answers questions with plain
DuckDB JSON functions over Before/After (never the Changes column)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from audit_events.contract import envelope_from_entry, make_detail, make_entity
from audit_events.sink import LocalFirehoseSink
from etl import layout, schema
from etl.local import run_all

USER_U = "user-7"
SUPPORT = "support@example.com"
Event = tuple[str, str, str, str, str, dict[str, Any] | None, dict[str, Any] | None, int, int]


def order(
    eid: str, before: dict | None, after: dict | None, minute: int, days: int = 1, action: str = "Update"
) -> Event:
    return ("shop.orders", "Order", eid, action, "svc-orders", before, after, days, minute)


def user(eid: str, actor: str, before: dict, after: dict, minute: int, days: int = 1) -> Event:
    return ("shop.users", "User", eid, "Update", actor, before, after, days, minute)


#: (source, entity type, entity id, action, actor, before, after, days before `today`, minute past 10:00)
EVENTS: list[Event] = [
    order("o-1", {"status": "Paid", "n": 1}, {"status": "Cancelled", "n": 1}, 1),
    order("o-2", {"status": "Paid"}, {"status": "Cancelled"}, 2, days=0),
    order("o-3", {"status": "Cancelled"}, {"status": "Refunded"}, 3),
    order("o-4", {"status": "Paid"}, {"status": "cancelled"}, 4),
    order("o-5", {"status": "Paid", "note": "a"}, {"status": "Paid", "note": "b"}, 5),
    order("o-6", None, {"status": "Cancelled"}, 6, action="Create"),
    order("o-7", {"status": "Cancelled", "x": 1}, {"x": 2}, 7),
    order("o-8", {"priority": 1}, {"priority": 5}, 8),
    order("o-9", {"priority": "1"}, {"priority": "5"}, 9),
    order("o-10", {"priority": 1}, {"priority": 5.0}, 10),
    order("o-11", {"coupon": "X1"}, {"coupon": None}, 11),
    order("o-12", {"coupon": "X1"}, {}, 12),
    order("o-13", {"gift": False}, {"gift": True}, 13),
    order("o-14", {"gift": "no"}, {"gift": "true"}, 14),
    order("o-15", {"status": "Cancelled"}, None, 15, action="Delete"),
    order("o-16", {"status": "Paid", "prev": "x"}, {"status": "Shipped", "prev": "Cancelled"}, 16),
    user(
        USER_U,
        SUPPORT,
        {"email": "u7@old.example", "name": "U"},
        {"email": "u7@new.example", "name": "U"},
        20,
    ),
    user(USER_U, "seven@example.com", {"name": "U"}, {"name": "U. Seven"}, 21),
    user(USER_U, "alice@example.com", {"email": "u7@new.example"}, {"email": "u7@third.example"}, 22, days=0),
    user(
        USER_U,
        "bob@example.com",
        {"profile": {"email": "p@x.example", "city": "Oslo"}},
        {"profile": {"email": "p@y.example", "city": "Oslo"}},
        23,
        days=0,
    ),
    user("user-8", "carol@example.com", {"email": "u8@old.example"}, {"email": "u8@new.example"}, 24),
]
OLD_SOURCE = "shop.legacy"  # a Parquet file written before the Changes column (no such column at all)


def build(data_dir: Path, today: date, legacy: bool = True) -> None:
    """Write EVENTS relative to `today` as raw objects, run the local ETL, then (when `legacy`) add the
    old-layout file."""
    sink = LocalFirehoseSink(data_dir)
    for n, (source, etype, eid, action, actor, before, after, days, minute) in enumerate(EVENTS):
        item = make_entity(eid, f"{etype} {eid}", before=before, after=after)
        detail = make_detail(
            [item],
            entity_type=etype,
            action=action,
            correlation_id=f"req-{n}",
            actor_name=actor,
            actor_type="User" if "@" in actor else "Service",
        )
        when = datetime.combine(today - timedelta(days=days), datetime.min.time(), UTC) + timedelta(
            hours=10, minutes=minute
        )
        entry = {
            "Source": source,
            "DetailType": f"{etype}Changed",
            "Detail": json.dumps(detail),
            "Time": when,
        }
        sink.put(envelope_from_entry(entry))
    sink.close()
    run_all(data_dir)
    if not legacy:
        return
    old_columns = [c for c in schema.COLUMNS if c.name != "Changes"]
    day = today - timedelta(days=1)
    row = dict.fromkeys(c.name for c in old_columns)
    row.update(
        Id="legacy-1:0",
        EventId="legacy-1",
        Timestamp=datetime.combine(day, datetime.min.time()) + timedelta(hours=9),
        EntityId="o-legacy",
        EntityType="Order",
        Action="Update",
        ActorName="svc-legacy",
        Before='{"status":"Paid"}',
        After='{"status":"Cancelled"}',
    )
    folder = data_dir / layout.analytics_partition_prefix(day, OLD_SOURCE)
    folder.mkdir(parents=True, exist_ok=True)
    old_schema = pa.schema([pa.field(c.name, c.arrow_type) for c in old_columns])
    pq.write_table(pa.Table.from_pylist([row], schema=old_schema), folder / "run-20000101T000000Z.parquet")


def oracle(data_dir: Path, where: str, params: list[Any]) -> list[tuple[str, str, str | None]]:
    """(Id, EntityId, ActorName) of the stored rows matching `where` (plain DuckDB SQL over Before/After,
    with `?` parameters), newest first."""
    glob = str(data_dir / "analytics" / "auditlog" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        return con.execute(
            "SELECT Id, EntityId, ActorName"
            " FROM read_parquet(?, hive_partitioning = true, union_by_name = true)"
            f" WHERE {where} ORDER BY Timestamp DESC, Id DESC",  # noqa: S608  (the test's own fixed text)
            [glob, *params],
        ).fetchall()
    finally:
        con.close()


#: "Which orders went to status Cancelled on day D": After's status is the JSON string "Cancelled" in any
#: case of letters, and it changed (Before has another status text, or none).
WENT_TO_CANCELLED = (
    "source = 'shop.orders' AND dt = ? AND lower(json_extract(After, '$.status')) = '\"cancelled\"'"
    " AND json_extract(Before, '$.status') IS DISTINCT FROM json_extract(After, '$.status')"
)
#: "Who changed the e-mail of user U": U's rows whose top-level email differs between Before and After.
CHANGED_EMAIL_OF = (
    "source = 'shop.users' AND EntityId = ?"
    " AND json_extract(Before, '$.email') IS DISTINCT FROM json_extract(After, '$.email')"
)
