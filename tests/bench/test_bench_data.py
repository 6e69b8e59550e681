"""The bench data builder (replicated Parquet days) and the bytes-read calculation, on small real data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pyarrow.parquet as pq
import pytest

from bench import data, explorer_bench
from etl import layout


@pytest.fixture
def small_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 10-day table built from 7 demo days x 40 events through the real ETL, cached in tmp_path."""
    monkeypatch.setattr(data, "CACHE", tmp_path)
    monkeypatch.setattr(data, "log", lambda msg: None)
    return data.table(10, events_per_day=40)


def _rows(folder: Path) -> list[tuple]:
    glob = (folder / layout.ANALYTICS_PREFIX).as_posix() + "/*/*/*.parquet"
    hive = "hive_partitioning = true, hive_types = {'dt': VARCHAR, 'source': VARCHAR}"
    return duckdb.sql(
        f"SELECT dt, strftime(Timestamp, '%Y-%m-%d'), Id, EntityId, EntityParentId, CorrelationId "
        f"FROM read_parquet('{glob}', {hive})"
    ).fetchall()


def test_replicated_days_are_shifted_renamed_copies_in_the_etl_layout(small_table: Path) -> None:
    rows = _rows(small_table)
    days = sorted({r[0] for r in rows})
    assert len(days) == 10 and days[-1] == data.END_DATE.isoformat()
    assert all(r[0] == r[1] for r in rows)  # Timestamp shifted into its dt partition
    first_copy_day = (data.END_DATE - timedelta(days=7)).isoformat()
    copied = [r for r in rows if r[0] <= first_copy_day]
    assert copied and all(r[2].startswith("c1-") and r[3].startswith("c1-") and r[5].startswith("c1-")
                          for r in copied)
    assert all(r[4] is None or r[4].startswith("c1-") for r in copied)
    originals = {r[2] for r in rows if r[0] > first_copy_day}
    assert not originals & {r[2] for r in copied}  # entities and rows stay distinct per copy
    for path in (small_table / layout.ANALYTICS_PREFIX).glob("dt=*/source=*/*.parquet"):
        table = pq.read_table(path)
        keys = list(zip(*(table[c].to_pylist() for c in ("EntityId", "Timestamp", "Id")), strict=True))
        assert keys == sorted(keys)
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_bytes_read_counts_only_row_groups_min_max_cannot_rule_out(small_table: Path) -> None:
    groups = explorer_bench.load_row_groups(small_table)
    files = list((small_table / layout.ANALYTICS_PREFIX).glob("dt=*/source=*/*.parquet"))
    total = sum(
        pq.ParquetFile(f).metadata.row_group(i).column(j).total_compressed_size
        for f in files
        for i in range(pq.ParquetFile(f).metadata.num_row_groups)
        for j in range(pq.ParquetFile(f).metadata.num_columns)
    )
    every = explorer_bench.bytes_read(groups, lambda rg: True, explorer_bench.SELECT_ALL)
    assert every == total
    some_id = _rows(small_table)[0][3]
    hit = explorer_bench.bytes_read(
        groups, lambda rg: explorer_bench._may_equal(rg, "EntityId", some_id), explorer_bench.SELECT_ALL
    )
    miss = explorer_bench.bytes_read(
        groups, lambda rg: explorer_bench._may_equal(rg, "EntityId", "~not-an-id"), explorer_bench.SELECT_ALL
    )
    assert 0 < hit < total and miss == 0


def _index_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_entity_index_of_a_built_table_is_what_the_etl_writes(small_table: Path, tmp_path: Path) -> None:
    index_dir = small_table / layout.ENTITY_INDEX_PREFIX
    runs = {p.stem for p in (small_table / layout.ANALYTICS_PREFIX).glob("dt=*/source=*/*.parquet")}
    assert {p.stem for p in index_dir.glob("*.parquet")} == runs
    hive = "hive_partitioning = true, hive_types = {'dt': VARCHAR, 'source': VARCHAR}"
    for run in sorted(runs):
        glob = (small_table / layout.ANALYTICS_PREFIX).as_posix() + f"/*/*/{run}.parquet"
        scan = f"read_parquet('{glob}', {hive})"
        expected = duckdb.sql(
            f"SELECT DISTINCT k, dt, source FROM (SELECT EntityId AS k, dt, source FROM {scan} "
            f"UNION ALL SELECT EntityParentId, dt, source FROM {scan} "
            f"UNION ALL SELECT CorrelationId, dt, source FROM {scan}) WHERE k IS NOT NULL ORDER BY ALL"
        ).fetchall()
        assert [tuple(r.values()) for r in _index_rows(index_dir / f"{run}.parquet")] == expected, run
    # a run made of the ETL's own files only: the same index file rows the ETL itself wrote
    run = layout.run_id(data.END_DATE)
    etl_index = tmp_path / f"etl-{data.BASE_DAYS}d-40" / layout.entity_index_key(data.END_DATE)
    assert _index_rows(index_dir / f"{run}.parquet") == _index_rows(etl_index)
    # a cached table that lacks an index file gets it back on the next use
    (index_dir / f"{run}.parquet").unlink()
    data.table(10, events_per_day=40)
    assert _index_rows(index_dir / f"{run}.parquet") == _index_rows(etl_index)


def test_nested_changes_column_is_counted_under_its_name(small_table: Path) -> None:
    groups = explorer_bench.load_row_groups(small_table)
    assert all("Changes" in rg.bytes_by_column and "Changes" not in rg.stats for rg in groups)
    only_changes = explorer_bench.bytes_read(groups, lambda rg: True, ["Changes"])
    assert 0 < only_changes < explorer_bench.bytes_read(groups, lambda rg: True, explorer_bench.SELECT_ALL)


def test_same_rows_check_stops_a_naive_plan_that_answers_something_else() -> None:
    def page(*ids: str) -> SimpleNamespace:
        return SimpleNamespace(rows=[SimpleNamespace(Id=i) for i in ids])

    def naive(*ids: str) -> list[tuple[str, ...]]:
        width = explorer_bench._ID + 1
        return [tuple(i if n == explorer_bench._ID else "" for n in range(width)) for i in ids]

    counter = {"a": 0}
    explorer_bench._check_same_rows("same", (lambda: page("b", "a"), lambda: naive("b", "a", "z")), counter)
    with pytest.raises(AssertionError, match="differ"):
        explorer_bench._check_same_rows("other", (lambda: page("b", "a"), lambda: naive("a", "b")), counter)


def test_explorer_mix_runs_every_filter_beside_its_naive_plan(small_table: Path) -> None:
    names = {"changed_field_to_value", "time_window_one_hour", "actor_contains", "actor_contains_rare",
             "actor_90_days", "actor_90_days_rare", "correlation_300_days_old"}
    out = explorer_bench.run(10, small_table, reps=2, naive_reps=1, log=lambda msg: None, only=names)
    assert set(out["queries"]) == names  # and each first page equalled its naive plan's rows (else raised)
    assert all(0 <= q["bytes_ours_pct"] <= q["bytes_naive_pct"] <= 100 for q in out["queries"].values())
