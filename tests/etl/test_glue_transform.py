"""The Glue job's own behaviour under local pyspark: run-owned files, re-runs, late events, file format."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from etl import glue_job, layout
from tests.etl.test_glue_parity import ARRIVAL_DAY, _dumps, event, table_rows, write_raw_day
from tests.etl.test_glue_parity import spark as spark  # noqa: F401  (module fixture)

RUN = layout.run_id(ARRIVAL_DAY)


def test_prepare_lines_splits_crlf_concatenated_and_marks_reasons() -> None:
    lines = [_dumps(event("a")) + " " + _dumps(event("b")) + "\r", "", "[1]", "{x", b"\xff\r"]
    recs = list(glue_job.prepare_lines("raw/k.gz", lines))
    assert [(r.line, r.pos, r.reason) for r in recs] == [
        (1, 0, None),
        (1, 1, None),
        (3, 0, "not_an_object"),
        (4, 0, "invalid_json"),
        (5, 0, "invalid_json"),
    ]
    prepared = json.loads(recs[0].prepared)
    assert prepared["key"] == "a" and prepared["time"] == "2026-11-27T05:00:00.000Z"


def test_prepared_record_keeps_original_json_text() -> None:
    line = _dumps(event("n", entities=[{"entity": {"id": 7}, "before": {}}])).replace(
        '"before":{}', '"before":{ "p" : 1.10, "s": "\\u00e9" }'
    )
    (rec,) = glue_job.prepare_lines("raw/k.gz", [line])
    (entity,) = json.loads(rec.prepared)["entities"]
    assert entity["before"] == '{"p":1.10,"s":"\\u00e9"}' and entity["entity_id"] == "7"


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_rerun_replaces_only_this_runs_files_and_late_rows_sit_beside_others(
    tmp_path: Path, spark: Any
) -> None:
    write_raw_day(tmp_path)
    # Another run's file in the partition our late event lands in: it must survive both runs.
    other = (
        tmp_path
        / layout.analytics_partition_prefix(date(2026, 11, 25), "shop.orders")
        / "run-20261125.parquet"
    )
    other.parent.mkdir(parents=True)
    other.write_bytes(b"other run")
    first = glue_job.run_etl(spark, str(tmp_path), str(tmp_path), ARRIVAL_DAY)
    rows_first = table_rows_without(tmp_path, other)
    second = glue_job.run_etl(spark, str(tmp_path), str(tmp_path), ARRIVAL_DAY)
    assert other.read_bytes() == b"other run"
    assert table_rows_without(tmp_path, other) == rows_first
    # Late rows: the 2026-11-25 event and the one at the epoch.
    assert first["partitions"] == second["partitions"] and second["late_rows"] == 2
    files = sorted(
        p.relative_to(tmp_path).as_posix() for p in (tmp_path / "analytics").rglob("*") if p.is_file()
    )
    assert second["index_file"] == layout.entity_index_key(ARRIVAL_DAY)
    assert files == sorted(
        [p["file"] for p in second["partitions"]]
        + [other.relative_to(tmp_path).as_posix(), second["index_file"]]
    )
    assert not (tmp_path / glue_job.STAGING_PREFIX / RUN).exists()


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_rerun_without_rows_removes_the_entity_index(tmp_path: Path, spark: Any) -> None:
    write_raw_day(tmp_path)
    first = glue_job.run_etl(spark, str(tmp_path), str(tmp_path), ARRIVAL_DAY)
    index = tmp_path / first["index_file"]
    assert pq.ParquetFile(index).metadata.row_group(0).column(0).compression == "ZSTD"
    for p in (tmp_path / layout.raw_day_prefix(ARRIVAL_DAY)).rglob("*.gz"):
        p.write_bytes(gzip.compress(b"not json\n"))
    second = glue_job.run_etl(spark, str(tmp_path), str(tmp_path), ARRIVAL_DAY)
    assert second["rows_out"] == 0 and second["index_file"] is None
    assert not index.exists() and not any((tmp_path / "analytics").rglob("*.parquet"))


def table_rows_without(data_dir: Path, skip: Path) -> dict[str, Any]:
    moved = skip.with_suffix(".hidden")
    skip.rename(moved)
    try:
        return table_rows(data_dir)
    finally:
        moved.rename(skip)


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_parquet_is_zstd_with_int64_millisecond_timestamps_sorted(tmp_path: Path, spark: Any) -> None:
    day_dir = tmp_path / layout.raw_hour_prefix(datetime_at(ARRIVAL_DAY))
    day_dir.mkdir(parents=True)
    lines = [
        _dumps(
            event(
                f"e{i}",
                time=f"2026-11-27T05:00:0{i % 10}.123456Z",
                entities=[{"entity": {"id": f"o-{9 - i % 10}"}}],
            )
        )
        for i in range(30)
    ]
    (day_dir / "a.json.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    report = glue_job.run_etl(spark, str(tmp_path), str(tmp_path), ARRIVAL_DAY)
    (part,) = report["partitions"]
    pf = pq.ParquetFile(tmp_path / part["file"])
    col = pf.metadata.schema.column(list(pf.schema_arrow.names).index("Timestamp"))
    assert col.physical_type == "INT64" and "timeUnit=milliseconds" in str(col.logical_type)
    assert pf.metadata.row_group(0).column(0).compression == "ZSTD"
    rows = pf.read().to_pylist()
    assert [r["EntityId"] for r in rows] == sorted(r["EntityId"] for r in rows)
    assert rows[0]["Timestamp"].microsecond % 1000 == 0 and len(rows) == part["rows"] == 30


def datetime_at(day: date) -> Any:
    from datetime import datetime

    return datetime(day.year, day.month, day.day, 3)


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_day_without_raw_objects_names_the_folder(tmp_path: Path, spark: Any) -> None:
    with pytest.raises(ValueError, match="raw/year=2026/month=11/day=27"):
        glue_job.run_etl(spark, str(tmp_path), str(tmp_path), ARRIVAL_DAY)


def test_arrival_day_argument() -> None:
    assert glue_job.resolve_arrival_day("2026-11-27") == date(2026, 11, 27)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        glue_job.resolve_arrival_day("27/11/2026")
