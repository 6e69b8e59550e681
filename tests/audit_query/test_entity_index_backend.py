"""The DuckDB backend reads the ETL's entity index for entity histories: same results as the full scan,
only the matching partitions' files in the SQL, and the full scan whenever a run with data files has no
index file.

The data comes from the real local ETL (several arrival days, late events, parents and children across
sources and dt partitions); the full-scan oracle is a backend over a copy of the same folder without an index.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from audit_query import AuditLogClient
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.model import AuditLogQuery
from etl import layout
from etl.local import run_etl
from tests.audit_query.conftest import SETTINGS, is_acceptable, make_row, write_rows
from tests.etl.conftest import make_event, write_raw
from tests.sqli import sqli_lines

ARRIVALS = (date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26))
SPAN = (date(2026, 11, 20), date(2026, 11, 27))
SOURCES = ("shop.billing", "shop.orders")
HOSTILE = tuple(v for v in sqli_lines() if is_acceptable(v))
IDS = ("order-0", "order-1", "order-2", "order-3", "line-1", "line-4", "inv-2", "absent", "7")


def _events(day: date) -> list[dict]:
    """Orders with lines (children) and invoices (children in another source); some events arrive late."""
    events = []
    for i in range(30):
        late = i % 6 == 0
        when = datetime(day.year, day.month, day.day, 1 + i % 20) - (
            timedelta(days=2) if late else timedelta()
        )
        order = f"order-{i % 4}"
        entities = [{"entity": {"id": order, "name": "O"}}]
        if i % 3 == 1:
            entities.append({"entity": {"id": f"line-{i % 5}"}, "parent": {"id": order, "type": "Order"}})
        if i % 7 == 2:
            entities.append({"entity": {"id": "line-9"}, "parent": {"id": 7, "type": "Order"}})
        source = SOURCES[i % 2]
        if source == "shop.billing":
            entities = [{"entity": {"id": f"inv-{i % 3}"}, "parent": {"id": order}}]
        events.append(
            make_event(
                day.toordinal() * 100 + i,
                time=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                source=source,
                entities=entities,
            )
        )
    return events


def _hostile_events() -> list[dict]:
    """Each adversarial line as an entity id and as the parent of a child."""
    return [
        make_event(
            10_000 + n,
            time="2026-11-25T08:00:00Z",
            entities=[{"entity": {"id": line}}, {"entity": {"id": f"child-{n}"}, "parent": {"id": line}}],
        )
        for n, line in enumerate(HOSTILE)
    ]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder written by the ETL with its index, copy of it without the index: the full-scan oracle)."""
    data_dir = tmp_path_factory.mktemp("indexed")
    for day in ARRIVALS:
        records = _events(day) + (_hostile_events() if day == date(2026, 11, 25) else [])
        write_raw(data_dir, datetime(day.year, day.month, day.day, 9), records)
        run_etl(data_dir, day)
    plain = tmp_path_factory.mktemp("plain")
    shutil.copytree(data_dir / layout.ANALYTICS_PREFIX, plain / layout.ANALYTICS_PREFIX)
    assert len(list((data_dir / layout.ENTITY_INDEX_PREFIX).glob("*.parquet"))) == len(ARRIVALS)
    return data_dir, plain


def _history(data_dir: Path, entity_id: str, include_children: bool = True) -> list:
    with DuckDBBackend(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        return client.history(
            entity_id, include_children=include_children, date_from=SPAN[0], date_to=SPAN[1]
        )


def _listed(table_ref: str) -> set[str]:
    """The data files a table reference names."""
    return set(re.findall(r"'([^']+\.parquet)'", table_ref))


def _partition_files(data_dir: Path, entity_id: str) -> set[str]:
    """Every data file of every partition holding `entity_id` as EntityId or EntityParentId."""
    glob = (data_dir / layout.ANALYTICS_PREFIX).as_posix() + "/*/*/*.parquet"
    parts = duckdb.execute(
        f"SELECT DISTINCT dt, source FROM read_parquet('{glob}', hive_partitioning = true, "
        "hive_types = {'dt': VARCHAR, 'source': VARCHAR}) WHERE EntityId = $x OR EntityParentId = $x",
        {"x": entity_id},
    ).fetchall()
    root = data_dir / layout.ANALYTICS_PREFIX
    return {
        str(p) for dt, source in parts for p in (root / f"dt={dt}" / f"source={source}").glob("*.parquet")
    }


def _query(entity_id: str) -> AuditLogQuery:
    return AuditLogQuery(SPAN[0], SPAN[1], SOURCES, entity_id=entity_id, include_children=True)


@pytest.mark.parametrize("include_children", [True, False])
def test_history_through_the_index_equals_the_full_scan(folders: tuple[Path, Path], include_children) -> None:
    indexed, plain = folders
    found = 0
    for entity_id in IDS:
        got = _history(indexed, entity_id, include_children)
        assert got == _history(plain, entity_id, include_children), entity_id
        found += len(got)
    assert found > 50  # the fixture really has histories, with children in several partitions


def test_table_ref_names_only_the_matching_partitions_files(folders: tuple[Path, Path]) -> None:
    indexed, plain = folders
    with DuckDBBackend(indexed) as backend, DuckDBBackend(plain) as full:
        for entity_id in ("order-1", "line-9", "inv-0", "7"):
            listed = _listed(backend.table_ref(_query(entity_id)))
            assert listed == _partition_files(indexed, entity_id), entity_id
            everything = _listed(full.table_ref(_query(entity_id)))
            assert listed and len(everything) > len(listed)
        assert backend.table_ref(_query("absent")).startswith("(SELECT CAST(NULL")  # nothing to open


def test_hostile_entity_ids_match_literally_through_the_index(folders: tuple[Path, Path]) -> None:
    indexed, plain = folders
    with DuckDBBackend(indexed) as backend, DuckDBBackend(plain) as full:
        client, oracle = AuditLogClient(backend, SETTINGS), AuditLogClient(full, SETTINGS)
        for n, value in enumerate(HOSTILE):
            got = client.history(value, date_from=SPAN[0], date_to=SPAN[1])
            assert [(r.EntityId, r.EntityParentId) for r in got] in (
                [(value, None), (f"child-{n}", value)],
                [(f"child-{n}", value), (value, None)],
            ), value
            assert got == oracle.history(value, date_from=SPAN[0], date_to=SPAN[1])
            partition = indexed / layout.analytics_partition_prefix(date(2026, 11, 25), "shop.orders")
            assert {Path(f).parent for f in _listed(backend.table_ref(_query(value)))} == {partition}


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def test_a_run_without_an_index_file_makes_the_backend_scan_everything(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    indexed, plain = folders
    data_dir = _copy(indexed, tmp_path / "data")
    (data_dir / layout.entity_index_key(ARRIVALS[1])).unlink()
    with DuckDBBackend(data_dir) as backend, DuckDBBackend(plain) as full:
        ref = backend.table_ref(_query("order-1"))
        assert {Path(f).relative_to(data_dir) for f in _listed(ref)} == {
            Path(f).relative_to(plain) for f in _listed(full.table_ref(_query("order-1")))
        }
    assert _history(data_dir, "order-1") == _history(plain, "order-1")


def test_files_written_without_an_index_are_still_found(folders: tuple[Path, Path], tmp_path: Path) -> None:
    data_dir = _copy(folders[0], tmp_path / "data")
    by_hand = make_row(
        "hand:0", datetime(2026, 11, 21, 3), "shop.orders", EntityId="x", EntityParentId="order-1"
    )
    write_rows(data_dir, [by_hand], run_id="manual")  # a partition no index names
    history = _history(data_dir, "order-1")
    assert "hand:0" in [r.Id for r in history]
    shutil.rmtree(data_dir / layout.ENTITY_INDEX_PREFIX)  # no index folder at all: the full scan as before
    assert _history(data_dir, "order-1") == history


def test_a_rerun_is_seen_by_an_open_backend(folders: tuple[Path, Path], tmp_path: Path) -> None:
    data_dir = _copy(folders[0], tmp_path / "data")
    with DuckDBBackend(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        before = client.history("order-1", date_from=SPAN[0], date_to=SPAN[1])
        day = ARRIVALS[2]
        moved = make_event(
            99,
            time="2026-11-22T05:00:00Z",
            source="shop.billing",
            entities=[{"entity": {"id": "new-line"}, "parent": {"id": "order-1"}}],
        )
        write_raw(data_dir, datetime(day.year, day.month, day.day, 10), [moved], name="extra.gz")
        run_etl(data_dir, day)
        after = client.history("order-1", date_from=SPAN[0], date_to=SPAN[1])
    assert "new-line" in [r.EntityId for r in after] and "new-line" not in [r.EntityId for r in before]
    assert after == _history(_strip_index(data_dir, tmp_path / "plain"), "order-1")


def _strip_index(data_dir: Path, dest: Path) -> Path:
    shutil.copytree(data_dir / layout.ANALYTICS_PREFIX, dest / layout.ANALYTICS_PREFIX)
    return dest


def test_an_event_dated_after_its_arrival_day_is_found_through_its_runs_index(tmp_path: Path) -> None:
    # The run of 11-24 holds an event stamped 11-26 (a producer clock ahead). A history from 11-25 on reads
    # the index files of runs from 11-25 while it lists partitions; the 11-24 run turns up in the listing
    # and its index must still be asked, or the row is silently missed.
    data_dir = tmp_path / "data"
    ahead = make_event(1, time="2026-11-26T05:00:00Z", entities=[{"entity": {"id": "ahead-1"}}])
    other = make_event(2, time="2026-11-25T05:00:00Z", entities=[{"entity": {"id": "other"}}])
    write_raw(data_dir, datetime(2026, 11, 24, 9), [ahead])
    write_raw(data_dir, datetime(2026, 11, 25, 9), [other])
    run_etl(data_dir, date(2026, 11, 24))
    run_etl(data_dir, date(2026, 11, 25))
    plain = _strip_index(data_dir, tmp_path / "plain")
    for data in (data_dir, plain):
        with DuckDBBackend(data) as backend:
            rows = AuditLogClient(backend, SETTINGS).history(
                "ahead-1", date_from=date(2026, 11, 25), date_to=date(2026, 11, 27)
            )
        assert [r.EntityId for r in rows] == ["ahead-1"], data


def test_an_unreadable_index_of_a_run_without_files_in_range_does_not_force_a_full_scan(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    data_dir = _copy(folders[0], tmp_path / "data")
    (data_dir / layout.entity_index_key(date(2026, 12, 1))).write_bytes(b"not parquet")  # no data in range
    with DuckDBBackend(data_dir) as backend:
        assert _listed(backend.table_ref(_query("order-1"))) == _partition_files(data_dir, "order-1")
    assert _history(data_dir, "order-1") == _history(folders[1], "order-1")
