"""The Glue job (etl/glue_job.py under local pyspark) and the local DuckDB ETL store identical rows.

Both run on the same raw day: concatenated objects, CRLF, blank and malformed lines, duplicates within and
across objects, a late event, offsets, numeric ids, odd before/after JSON (1.10, \\u00e9, 1e2, spaces).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from etl import glue_job, layout, local
from etl.schema import CHANGE_TYPE
from tests.etl.conftest import make_event

ARRIVAL_DAY = date(2026, 11, 27)
RUN = layout.run_id(ARRIVAL_DAY)


def event(
    event_id: object,
    time: str = "2026-11-27T05:00:00Z",
    source: object = "shop.orders",
    entities: object = None,
    **detail: object,
) -> dict[str, Any]:
    """conftest.make_event keyed by `event_id` (None: none), one order o-1 and correlation c-1 by default."""
    one_order = [{"entity": {"id": "o-1", "name": "Order 1"}}]
    return make_event(
        event_id,
        time=time,
        source=source,
        entities=entities if entities is not None else one_order,
        event_id=event_id,
        **{"correlation_id": "c-1", **detail},
    )


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _gz(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))


def _change_line(event_id: str, before: str | None, after: str | None) -> str:
    """An event whose one entity holds `before`/`after` as written (pasted in, not re-serialised)."""
    parts = "" if before is None else f',"before":{before}'
    parts += "" if after is None else f',"after":{after}'
    line = _dumps(event(event_id, entities=[{"entity": {"id": "PLACEHOLDER"}}]))
    return line.replace('{"entity":{"id":"PLACEHOLDER"}}', f'{{"entity":{{"id":"ch-{event_id}"}}{parts}}}')


CHANGES = {  # event id -> (before, after, the Changes both ETLs must store)
    "ch1": ('{"status":"paid","n":5}', '{"status":"Cancelled","n":5.0}', [("n", "5", "5.0"),
                                                                        ("status", '"paid"', '"Cancelled"')]),
    "ch2": ('{"a":{"x":1,"y":{"p":1,"q":2}}}', '{"a":{"y":{"q":2,"p":1},"x":1}}',
            [("a.y", '{"p":1,"q":2}', '{"q":2,"p":1}')]),
    "ch3": (None, '{"b":null,"a":"\\u00e9"}', [("a", None, '"\\u00e9"'), ("b", None, "null")]),
    "ch4": ('{"a":1,"a":2,"gone":true}', '{"a":1}', [("gone", "true", None)]),
    "ch5": ('"draft"', '[1,2]', [("", '"draft"', "[1,2]")]),
    "ch6": ('{ "n" : 1e2 , "s":"x" }', '{"n":100.0,"s":"x"}', [("n", "1e2", "100.0")]),
    "ch7": ('{"a.b":1,"a":{"b":2}}', '{"a.b":3,"a":{"b":4}}', [("a.b", "1", "3"), ("a.b", "2", "4")]),
}
CHANGE_LINES = [_change_line(k, b, a) for k, (b, a, _) in CHANGES.items()]


def write_raw_day(data_dir: Path, day: date = ARRIVAL_DAY) -> None:
    """Two hour folders of gzip objects with good, bad, duplicate, late and odd-format records."""
    day_dir = data_dir / layout.raw_day_prefix(day)
    odd_before = '{ "total" : 1.10, "note" : "caf\\u00e9 \\/ x", "big": 12345678901234567890, "e": 1e2 }'
    odd = _dumps(event("odd", entities=[{"entity": {"id": "o-9"}, "before": {}, "after": {}}]))
    odd = odd.replace('"before":{}', f'"before":{odd_before}').replace(
        '"after":{}', '"after":{"n":[1 , 2.50]}'
    )
    lines_a = [
        _dumps(event("e1")),
        _dumps(
            event(
                "e2",
                entities=[
                    {
                        "entity": {"id": 42, "name": "Numeric"},
                        "parent": {"id": 7, "name": "P", "type": "Customer"},
                        "channel_code": 5,
                        "channel_account_code": "acc",
                        "before": {"a": 1},
                        "after": None,
                    },
                    {"entity": {"id": "o-2", "name": "Order 2"}, "after": {"z": "y", "a": [1, {"b": None}]}},
                ],
            )
        ),
        "",
        "   ",
        _dumps(event("e3")) + _dumps(event("e4", source="shop.billing")) + " " + _dumps(event("e5")),
        "{not json",
        "[1, 2]",
        "42",
        _dumps(event("e1", time="2026-11-27T06:00:00Z")),  # duplicate of e1: the first one wins
        _dumps(event("late", time="2026-11-25T23:59:59.999999+00:00")),
        _dumps(event("offset", time="2026-11-27T01:30:00.5-02:00", actor={"type": "2", "name": "svc"})),
        _dumps(event("noent", entities=[])),
        _dumps(event("noid", entities=[{"entity": {"name": "x"}}])),
        _dumps(event("badtime", time="yesterday")),
        _dumps(event("badsrc", source="a/b")),
        _dumps(event("upsrc", source="Shop.Orders")),  # a folder the query library could never read
        _dumps(event("ancient", time="0999-01-01T00:00:00Z")),  # once a poison pill for the whole day
        _dumps(event("preepoch", time="1970-01-01T00:30:00+01:00")),  # 1969 in UTC
        _dumps(event("epoch", time="1970-01-01T00:00:00Z")),  # the first accepted instant
        _dumps(event(None)),  # no event_id: the envelope id is the key
        _dumps(event(12345, actor={"type": 7})),  # numeric event_id, unknown actor code
        odd,
        _dumps(event("e1x")) + "{oops",
        _dumps(event("y2262", time="2262-04-12T00:00:00Z")),  # past nanoseconds: once failed the DuckDB day
        _dumps(event("y9999", time="9999-12-31T23:59:59.999Z")),  # the last storable instant
        _dumps(event("y10000", time="9999-12-31T23:59:59.999-00:01")),  # year 10000 in UTC
        _dumps(event("nl-id", entities=[{"entity": {"id": "o\n1"}}])),  # control characters in ids
        _dumps(event("nul-parent", entities=[{"entity": {"id": "o-1"}, "parent": {"id": "p\u0000"}}])),
        _dumps(event("huge", note="x" * (1100 * 1024))),  # over AUDITLOG_ETL_MAX_RECORD_BYTES
        *CHANGE_LINES,
    ]
    _gz(day_dir / "hour=05" / "stream-1-a.json.gz", ("\r\n".join(lines_a) + "\r\n").encode())
    lines_b = [
        _dumps(event("e2", time="2026-11-27T07:00:00Z")),  # duplicate across objects
        _dumps(event("b1", source="shop.billing", time="2026-11-27T23:59:59.999Z")),
        _dumps(event("b2", entities=[{"entity": {"id": "o-1"}, "channel_code": True}], action="Frobnicate")),
    ]
    _gz(day_dir / "hour=17" / "stream-1-b.json.gz", "\n".join(lines_b).encode() + b"\n\xff\xfe not utf-8\n")
    _gz(day_dir / "hour=17" / "ignored.txt", b"not a .gz name: not read")
    (day_dir / "hour=18").mkdir()
    (day_dir / "hour=18" / "not-gzip.gz").write_bytes(b"plain text, not gzip\n")
    cut = gzip.compress("".join(_dumps(event(f"cut{i}", note="n" * 300)) + "\n" for i in range(300)).encode())
    (day_dir / "hour=18" / "truncated.gz").write_bytes(cut[: len(cut) // 2])


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local SparkSession for the module (2 cores, 2 shuffle partitions, no UI)."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers import etl from this venv
    session = (
        SparkSession.builder.master("local[2]")
        .appName("glue-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def table_rows(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every analytics Parquet file's rows (Timestamp as naive UTC), by key relative to the data folder."""
    out = {}
    for path in sorted((data_dir / layout.ANALYTICS_PREFIX).rglob("*.parquet")):
        rows = pq.read_table(path).to_pylist()
        for r in rows:
            r["Timestamp"] = r["Timestamp"].replace(tzinfo=None)
        out[path.relative_to(data_dir).as_posix()] = rows
    return out


def index_rows(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every entity index file's rows, in file order, by key relative to the data folder."""
    folder = data_dir / layout.ENTITY_INDEX_PREFIX
    return {
        p.relative_to(data_dir).as_posix(): pq.read_table(p).to_pylist() for p in sorted(folder.glob("*"))
    }


def quarantined(data_dir: Path) -> list[dict[str, Any]]:
    """Every quarantine entry, whole: file, line, reason, message (etl.rules' text), raw, records_read."""
    text = (data_dir / layout.quarantine_key(ARRIVAL_DAY)).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_glue_job_and_local_etl_store_identical_rows_and_counts(
    tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    duck_dir, spark_dir = tmp_path / "duckdb", tmp_path / "spark"
    write_raw_day(duck_dir)
    write_raw_day(spark_dir)
    # An object that cannot be opened (as permission denied would: the tests run as root, which chmod
    # cannot lock out): both ETLs list it, and it is gone when read. Spark's binaryFile read failed the job.
    gone = layout.raw_day_prefix(ARRIVAL_DAY) + "hour=18/vanished.gz"
    real_files, real_list = local.raw.raw_files, glue_job.Store.list
    monkeypatch.setattr(
        local.raw, "raw_files", lambda d, day: sorted([*real_files(d, day), d / gone], key=lambda p: str(p))
    )
    monkeypatch.setattr(
        glue_job.Store, "list", lambda self, prefix: sorted([*real_list(self, prefix), gone])
    )
    duck = local.run_etl(duck_dir, ARRIVAL_DAY).to_dict()
    glue = glue_job.run_etl(spark, str(spark_dir), f"file://{spark_dir}", ARRIVAL_DAY)

    duck_rows, glue_rows = table_rows(duck_dir), table_rows(spark_dir)
    assert list(glue_rows) == list(duck_rows)  # same files: dt=/source=/<run_id>.parquet
    for key in duck_rows:
        assert glue_rows[key] == duck_rows[key], key  # every column, same order of rows
    stored = {r["EventId"]: r for rows in glue_rows.values() for r in rows}
    for event_id, (_, _, expected) in CHANGES.items():  # the Changes column holds what a reader expects
        assert [(c["Field"], c["Before"], c["After"]) for c in stored[event_id]["Changes"]] == expected
    for key in glue_rows:  # and Spark writes it with the schema's type
        assert pq.read_schema(spark_dir / key).field("Changes").type == CHANGE_TYPE
    assert sum(len(r) for r in duck_rows.values()) == duck["rows_out"] > 15  # e2 has 2 entities

    duck_index, glue_index = index_rows(duck_dir), index_rows(spark_dir)
    assert list(duck_index) == [layout.entity_index_key(ARRIVAL_DAY)] == [duck["index_file"]]
    assert glue_index == duck_index  # same file, same rows in the same order
    assert ("7", "2026-11-27", "shop.orders") in [tuple(r.values()) for r in duck_index[duck["index_file"]]]
    assert ("c-1", "2026-11-27", "shop.orders") in [tuple(r.values()) for r in glue_index[duck["index_file"]]]

    assert glue["engine"] == "spark" and duck["engine"] == "duckdb"
    for field in (
        "run_id",
        "arrival_day",
        "files_in",
        "events_in",
        "quarantined",
        "duplicates_removed",
        "events_stored",
        "rows_out",
        "late_rows",
        "max_event_time",
        "partitions",
        "index_file",
        "quarantine_reasons",
        "quarantined_objects",
    ):
        assert glue[field] == duck[field], field
    assert glue["events_in"] == glue["events_stored"] + glue["quarantined"] + glue["duplicates_removed"]
    assert json.loads((spark_dir / layout.report_key(ARRIVAL_DAY)).read_text()) == glue
    duck_q, glue_q = quarantined(duck_dir), quarantined(spark_dir)
    assert [(q["file"], q["line"]) for q in glue_q] == [(q["file"], q["line"]) for q in duck_q]
    for g, d in zip(glue_q, duck_q, strict=True):
        assert g == d, (d["file"], d["line"])  # reason AND message AND raw, per record
    reasons = {q["reason"] for q in duck_q}
    assert {"id_control_character", "invalid_time", "record_too_large", "unreadable_object"} <= reasons
    objects = [o["file"].rsplit("/", 1)[-1] for o in duck["quarantined_objects"]]
    assert objects == ["not-gzip.gz", "truncated.gz", "vanished.gz"]
    assert duck["quarantined_objects"][1]["records_read"] > 0
    assert "FileNotFoundError" in duck["quarantined_objects"][2]["message"]
