"""The local ETL's per-run entity index (analytics/entity_index/<run_id>.parquet): its rows are the distinct
(EntityId, EntityParentId or CorrelationId, dt, source) of the run's output, and the run owns it like its
data files."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from etl import layout
from etl.local import run_etl
from etl.schema import INDEX_COLUMN_NAMES, index_arrow_schema
from tests.etl.conftest import make_event, write_raw

DAY = date(2026, 11, 27)
ARRIVAL = datetime(2026, 11, 27, 10)


def expected_index(data_dir: Path, run: str) -> list[tuple[str, str, str]]:
    """Distinct (id, parent id or correlation id, dt, source) of the run's data files, sorted, via DuckDB."""
    glob = (data_dir / layout.ANALYTICS_PREFIX).as_posix() + f"/*/*/{run}.parquet"
    hive = "hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'source': 'VARCHAR'}"
    return duckdb.sql(
        f"""SELECT DISTINCT k, dt, source FROM (
                SELECT EntityId AS k, dt, source FROM read_parquet('{glob}', {hive})
                UNION ALL SELECT EntityParentId, dt, source FROM read_parquet('{glob}', {hive})
                UNION ALL SELECT CorrelationId, dt, source FROM read_parquet('{glob}', {hive}))
            WHERE k IS NOT NULL ORDER BY ALL"""
    ).fetchall()


def index_file_rows(data_dir: Path, day: date = DAY) -> list[tuple[str, str, str]]:
    table = pq.read_table(data_dir / layout.entity_index_key(day))
    assert table.schema == index_arrow_schema()
    return [tuple(r[c] for c in INDEX_COLUMN_NAMES) for r in table.to_pylist()]


def family_events() -> list[dict]:
    """Parents and children across two sources and a late dt; one child whose parent id is a number."""
    return [
        make_event(1),
        make_event(
            2,
            entities=[
                {"entity": {"id": "line-1"}, "parent": {"id": "o-1", "type": "Order"}},
                {"entity": {"id": "line-2"}, "parent": {"id": 7, "type": "Order"}},
            ],
        ),
        make_event(
            3,
            time="2026-11-25T10:00:00Z",
            source="shop.billing",
            entities=[{"entity": {"id": "inv-1"}, "parent": {"id": "o-1"}}],
        ),
        make_event(4, time="2026-11-25T11:00:00Z", entities=[{"entity": {"id": "o-1"}}]),
    ]


def test_index_rows_are_the_distinct_keys_of_the_output_sorted(tmp_path: Path) -> None:
    write_raw(tmp_path, ARRIVAL, family_events())
    report = run_etl(tmp_path, DAY)
    assert report.index_file == layout.entity_index_key(DAY) == "analytics/entity_index/run-20261127.parquet"
    got = index_file_rows(tmp_path)
    assert got == expected_index(tmp_path, report.run_id)
    assert ("7", "2026-11-27", "shop.orders") in got  # a parent id found only as a parent
    assert ("corr-3", "2026-11-25", "shop.billing") in got  # a correlation id, in its late partition
    assert ("o-1", "2026-11-25", "shop.billing") in got and ("o-1", "2026-11-25", "shop.orders") in got
    saved = json.loads((tmp_path / layout.report_key(DAY)).read_text())
    assert saved["index_file"] == report.index_file
    assert not (tmp_path / layout.ANALYTICS_PREFIX / "entity_index").exists()  # not inside the Athena root


def test_rerun_replaces_the_index(tmp_path: Path) -> None:
    write_raw(tmp_path, ARRIVAL, family_events())
    run_etl(tmp_path, DAY)
    first = index_file_rows(tmp_path)
    for p in (tmp_path / layout.raw_day_prefix(DAY)).rglob("*.gz"):
        p.unlink()
    write_raw(tmp_path, ARRIVAL, [make_event(9, source="shop.billing")])
    report = run_etl(tmp_path, DAY)
    assert (
        index_file_rows(tmp_path)
        == [
            ("corr-9", "2026-11-27", "shop.billing"),  # its correlation id
            ("o-9", "2026-11-27", "shop.billing"),
        ]
        != first
    )
    assert index_file_rows(tmp_path) == expected_index(tmp_path, report.run_id)
    assert sorted(p.name for p in (tmp_path / layout.ENTITY_INDEX_PREFIX).iterdir()) == [
        "run-20261127.parquet"
    ]
    assert not (tmp_path / "analytics" / "_staging").exists()


def test_run_without_rows_has_no_index_and_removes_the_old_one(tmp_path: Path) -> None:
    write_raw(tmp_path, ARRIVAL, [make_event(1)])
    run_etl(tmp_path, DAY)
    assert (tmp_path / layout.entity_index_key(DAY)).exists()
    for p in (tmp_path / layout.raw_day_prefix(DAY)).rglob("*.gz"):
        p.unlink()
    write_raw(tmp_path, ARRIVAL, ["not json"])
    report = run_etl(tmp_path, DAY)
    assert report.rows_out == 0 and report.index_file is None
    assert not (tmp_path / layout.entity_index_key(DAY)).exists()


def test_other_runs_index_files_survive(tmp_path: Path) -> None:
    write_raw(tmp_path, datetime(2026, 11, 26, 9), [make_event(1, time="2026-11-26T08:00:00Z")])
    run_etl(tmp_path, date(2026, 11, 26))
    write_raw(tmp_path, ARRIVAL, [make_event(2)])
    run_etl(tmp_path, DAY)
    run_etl(tmp_path, DAY)
    assert index_file_rows(tmp_path, date(2026, 11, 26)) == [
        ("corr-1", "2026-11-26", "shop.orders"),
        ("o-1", "2026-11-26", "shop.orders"),
    ]
    assert index_file_rows(tmp_path) == [
        ("corr-2", "2026-11-27", "shop.orders"),
        ("o-2", "2026-11-27", "shop.orders"),
    ]
