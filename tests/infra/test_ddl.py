"""The Athena DDL (etl/athena.py) and the Parquet files agree column by column: names, order, types."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from etl import athena
from etl.schema import CHANGE_TYPE, COLUMN_NAMES, arrow_schema

# Athena (Hive) type of each Arrow type a Parquet file of ours may hold.
ARROW_TO_ATHENA = {
    pa.string(): "string",
    pa.timestamp("ms"): "timestamp",
    pa.timestamp("ms", tz="UTC"): "timestamp",
}


def athena_type(t: pa.DataType) -> str:
    """The Athena type of a file column (a list's element name, "element" in Parquet, does not matter)."""
    if t == CHANGE_TYPE:
        return "array<struct<field:string,before:string,after:string>>"
    return ARROW_TO_ATHENA[t]


def ddl_columns(ddl: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(data columns, partition columns) of a CREATE TABLE, parsed by sqlglot (an independent parser)."""
    tree = sqlglot.parse_one(ddl, read="athena")
    schema = tree.this
    cols = [(c.name, c.args["kind"].sql("hive").lower().replace(" ", "")) for c in schema.expressions]
    part_prop = tree.find(exp.PartitionedByProperty)
    parts = [(c.name, c.args["kind"].sql("hive").lower()) for c in part_prop.this.expressions]
    return cols, parts


def test_parquet_written_with_the_schema_matches_the_ddl(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(arrow_schema().empty_table(), path)
    file_schema = pq.read_schema(path)
    cols, parts = ddl_columns(athena.create_table_ddl("s3://bucket/analytics/auditlog/", "auditlog_db"))
    assert cols == [(f.name, athena_type(f.type)) for f in file_schema]
    assert [n for n, _ in parts] == ["dt", "source"] and all(t == "string" for _, t in parts)
    assert not set(COLUMN_NAMES) & {n for n, _ in parts}


def test_ddl_carries_projection_and_parquet_serde() -> None:
    ddl = athena.create_table_ddl("s3://bucket/analytics/auditlog/", projection_start="2025-01-01")
    assert "'projection.dt.range'='2025-01-01,NOW'" in ddl
    assert "'storage.location.template'='s3://bucket/analytics/auditlog/dt=${dt}/source=${source}/'" in ddl
    assert athena.PARQUET_SERDE in ddl


def test_ddl_refuses_a_location_without_trailing_slash() -> None:
    with pytest.raises(ValueError, match="must end with '/'"):
        athena.create_table_ddl("s3://bucket/analytics/auditlog")


def test_cli_prints_ddl(capsys: pytest.CaptureFixture[str]) -> None:
    assert athena.main(["ddl", "s3://b/analytics/auditlog/", "--database", "db"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `db`.`auditlog`") and out.rstrip().endswith(
        ";"
    )
