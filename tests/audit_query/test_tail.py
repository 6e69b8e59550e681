"""The not-yet-processed tail (issue 12, item 2, library part): rows of waiting raw objects by the ETL's own
rules, and the handover to stored rows with no duplicate and no gap."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from audit_query.tail import data_version, tail_table
from etl import layout, local
from etl.local import run_etl
from tests.etl.conftest import make_event, write_raw

DAY = date(2026, 11, 27)
ARRIVAL = datetime(2026, 11, 27, 4)


def _stored_ids(data_dir: Path) -> list[str]:
    glob = str(data_dir / layout.ANALYTICS_PREFIX / "**" / "*.parquet")
    return sorted(r[0] for r in duckdb.sql(f"SELECT Id FROM read_parquet('{glob}')").fetchall())


def _tail_ids(data_dir: Path) -> list[str]:
    return sorted(tail_table(data_dir, DAY).column("Id").to_pylist())


def test_the_tail_is_what_the_etl_will_store_by_the_same_rules(tmp_path: Path) -> None:
    write_raw(tmp_path, ARRIVAL, [make_event(1)], name="a.json.gz")
    run_etl(tmp_path, DAY)
    # A waiting object: a good event, a re-delivery of it, a stored event again, and one the rules quarantine.
    write_raw(tmp_path, ARRIVAL, [make_event(2), make_event(2), make_event(1), "{bad"], name="b.json.gz")
    tail = tail_table(tmp_path, DAY)
    assert tail.column("Id").to_pylist() == ["ev-2:0"]
    assert tail.column("EntityId").to_pylist() == ["o-2"]
    assert tail.column("source").to_pylist() == ["shop.orders"]
    expected = {(k, v) for k, v in tail.to_pylist()[0].items() if k != "dt"}
    run_etl(tmp_path, DAY)
    assert _tail_ids(tmp_path) == []
    glob = str(tmp_path / layout.ANALYTICS_PREFIX / "**" / "*.parquet")
    stored = duckdb.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true) WHERE Id = 'ev-2:0'")
    row = dict(zip(stored.columns, stored.limit(1).fetchall()[0], strict=True))
    assert expected <= set(row.items())  # the tail row is the stored row, column for column


def test_an_object_landing_while_a_run_reads_is_in_the_tail_then_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_raw(tmp_path, ARRIVAL, [make_event(1)], name="a.json.gz")
    real = local._lines_table
    seen: dict[str, list[str]] = {}

    def reading(*args: object, **kwargs: object) -> object:
        table = real(*args, **kwargs)  # type: ignore[arg-type]
        write_raw(tmp_path, ARRIVAL, [make_event(2)], name="b.json.gz")  # lands after the listing
        return table

    def manifest_step(*args: object, **kwargs: object) -> str:
        # The exact boundary: the run's files are swapped in, its manifest not yet written.
        seen["stored"], seen["tail"] = _stored_ids(tmp_path), _tail_ids(tmp_path)
        return real_manifest(*args, **kwargs)  # type: ignore[arg-type]

    real_manifest = local.write_local_manifest
    monkeypatch.setattr(local, "_lines_table", reading)
    monkeypatch.setattr(local, "write_local_manifest", manifest_step)
    run_etl(tmp_path, DAY)
    monkeypatch.undo()
    # At the boundary and after it: every event once, stored or in the tail, never both, never neither.
    assert seen == {"stored": ["ev-1:0"], "tail": ["ev-2:0"]}
    assert (_stored_ids(tmp_path), _tail_ids(tmp_path)) == (["ev-1:0"], ["ev-2:0"])
    assert len(data_version(tmp_path, now=ARRIVAL).waiting_objects) == 1
    run_etl(tmp_path, DAY)
    assert (_stored_ids(tmp_path), _tail_ids(tmp_path)) == (["ev-1:0", "ev-2:0"], [])
    assert data_version(tmp_path, now=ARRIVAL).waiting_objects == ()


def test_a_day_with_nothing_waiting_has_an_empty_tail_with_the_stored_columns(tmp_path: Path) -> None:
    tail = tail_table(tmp_path, DAY)
    assert tail.num_rows == 0 and tail.column_names[-2:] == ["dt", "source"] and "Id" in tail.column_names
