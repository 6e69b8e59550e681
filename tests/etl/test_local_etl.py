"""The local DuckDB ETL against real gzip raw files and real Parquet output (semantics: etl_semantics)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from etl import layout
from etl.local import raw_days, run_all, run_etl
from etl.rules import MESSAGES
from etl.schema import COLUMN_NAMES, arrow_schema
from tests.etl.conftest import make_event, write_raw

DAY = date(2026, 11, 27)
ARRIVAL = datetime(2026, 11, 27, 10)


def rows(data_dir: Path) -> list[dict]:
    """Every stored row (with dt/source from the path), sorted by Id, read back through DuckDB."""
    glob = (data_dir / layout.ANALYTICS_PREFIX).as_posix() + "/*/*/*.parquet"
    hive = "hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'source': 'VARCHAR'}"
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{glob}', {hive}) ORDER BY Id, dt")
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def quarantine(data_dir: Path, day: date = DAY) -> list[dict]:
    path = data_dir / layout.quarantine_key(day)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def files(data_dir: Path) -> list[str]:
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*") if p.is_file())


def check_invariant(report) -> None:
    assert report.events_in == report.events_stored + report.quarantined + report.duplicates_removed


def test_rerun_gives_identical_rows_and_no_extra_files(tmp_path: Path) -> None:
    write_raw(tmp_path, ARRIVAL, [make_event(i) for i in range(5)] + ["not json"])
    first = run_etl(tmp_path, DAY)
    before_rows, before_files, before_quarantine = rows(tmp_path), files(tmp_path), quarantine(tmp_path)
    second = run_etl(tmp_path, DAY)
    assert rows(tmp_path) == before_rows
    new = [f for f in files(tmp_path) if f not in before_files]
    assert len(new) == 1 and new[0].startswith("manifests/000002-"), "only the re-run's appended manifest"
    assert [f for f in before_files if f not in files(tmp_path)] == []
    assert len(before_rows) == 5 and first.rows_out == second.rows_out == 5
    assert quarantine(tmp_path) == before_quarantine and len(before_quarantine) == 1
    assert before_quarantine[0]["raw"] == "not json" and before_quarantine[0]["line"] == 6
    assert not (tmp_path / "analytics" / "_staging").exists()


def test_late_event_lands_in_its_own_dt_and_other_runs_rows_survive(tmp_path: Path) -> None:
    write_raw(tmp_path, datetime(2026, 11, 26, 9), [make_event(1, time="2026-11-26T08:00:00Z")])
    run_etl(tmp_path, date(2026, 11, 26))
    write_raw(tmp_path, ARRIVAL, [make_event(2, time="2026-11-26T23:59:59.999Z"), make_event(3)])
    report = run_etl(tmp_path, DAY)
    run_etl(tmp_path, DAY)  # re-running the later day must not touch the earlier run's file
    got = {(r["EventId"], r["dt"]) for r in rows(tmp_path)}
    assert got == {("ev-1", "2026-11-26"), ("ev-2", "2026-11-26"), ("ev-3", "2026-11-27")}
    part = tmp_path / layout.analytics_partition_prefix(date(2026, 11, 26), "shop.orders")
    assert sorted(p.name for p in part.iterdir()) == ["run-20261126.parquet", "run-20261127.parquet"]
    assert report.late_rows == 1 and report.rows_out == 2
    assert report.max_event_time == "2026-11-27T10:00:00.000Z"


def test_same_event_delivered_twice_is_stored_once_first_wins(tmp_path: Path) -> None:
    first = make_event(1)
    retry = make_event(1)
    retry["id"] = "env-retry"
    retry["detail"]["entities"][0]["entity"]["name"] = "second copy"
    write_raw(tmp_path, datetime(2026, 11, 27, 1), [first, make_event(2)], name="a.gz")
    write_raw(tmp_path, datetime(2026, 11, 27, 2), [retry], name="b.gz")
    report = run_etl(tmp_path, DAY)
    stored = rows(tmp_path)
    assert [r["Id"] for r in stored] == ["ev-1:0", "ev-2:0"]
    assert stored[0]["EntityName"] == "Order 1"
    assert report.duplicates_removed == 1 and report.events_stored == 2
    check_invariant(report)


def test_dedup_key_falls_back_to_envelope_id_and_numbers_use_json_text(tmp_path: Path) -> None:
    no_key = make_event(1, event_id=None)
    empty_key = make_event(2, event_id="")
    numeric = make_event(3, event_id=77)
    write_raw(tmp_path, ARRIVAL, [no_key, empty_key, numeric, dict(no_key)])
    report = run_etl(tmp_path, DAY)
    assert [r["EventId"] for r in rows(tmp_path)] == ["77", "env-1", "env-2"]
    assert report.duplicates_removed == 1


def test_concatenated_objects_crlf_and_blank_lines_parse(tmp_path: Path) -> None:
    a, b, c, d = (json.dumps(make_event(i)) for i in range(4))
    data = f"{a}{b}\r\n\r\n   \n{c} {d}\r\n\n".encode()
    write_raw(tmp_path, ARRIVAL, data)
    report = run_etl(tmp_path, DAY)
    assert [r["EventId"] for r in rows(tmp_path)] == ["ev-0", "ev-1", "ev-2", "ev-3"]
    assert report.events_in == 4 and report.quarantined == 0


def test_fast_and_split_paths_store_identical_rows(tmp_path: Path) -> None:
    """The same events, one per line (DuckDB path) and concatenated on one line (Python path)."""
    events = [
        make_event(1, entities=[{
            "entity": {"id": 42, "name": "x"}, "parent": {"id": 7, "name": "p", "type": "T"},
            "channel_code": 5, "channel_account_code": "c", "before": {"a": [1, {"b": None}]},
        }]),
        make_event(2, actor={"type": "2", "name": 3}, action={"weird": True}, correlation_id=None),
        make_event(3, actor={"type": 9}, time="2026-11-27T12:00:00.123789+05:30"),
        make_event(4, entities=[{"entity": {"id": "e1"}}, {"entity": {"id": 1.5}, "after": {}}]),
    ]
    one_per_line = tmp_path / "lines"
    concatenated = tmp_path / "concat"
    write_raw(one_per_line, ARRIVAL, events)
    write_raw(concatenated, ARRIVAL, ["".join(json.dumps(e) for e in events)])
    run_etl(one_per_line, DAY)
    run_etl(concatenated, DAY)
    assert rows(one_per_line) == rows(concatenated)
    assert len(rows(one_per_line)) == 5


QUARANTINE_CASES = [
    ("not json", "invalid_json"),
    ('{"a":1,}', "invalid_json"),
    ('{"a":NaN}', "invalid_json"),
    ('{"a":"\\ud800"}', "invalid_json"),
    ("[1, 2]", "not_an_object"),
    ('"text"', "not_an_object"),
    (make_event(1, entities=[]), "no_entities"),
    ({**make_event(2), "detail": "x"}, "no_entities"),
    (make_event(3, entities={"entity": {"id": 1}}), "no_entities"),
    (make_event(4, entities=[{"entity": {"id": "a"}}, {"entity": {"name": "no id"}}]), "entity_without_id"),
    (make_event(5, entities=[{"entity": {"id": ""}}]), "entity_without_id"),
    (make_event(6, entities=[{"entity": {"id": None}}]), "entity_without_id"),
    (make_event(7, entities=[{"entity": {"id": True}}]), "entity_without_id"),
    (make_event(8, entities=[7]), "entity_without_id"),
    (make_event(9, time="yesterday"), "invalid_time"),
    (make_event(10, time="2026-11-27T10:00:00"), "invalid_time"),
    (make_event(11, time="2026-02-30T10:00:00Z"), "invalid_time"),
    ({k: v for k, v in make_event(12).items() if k != "time"}, "invalid_time"),
    (make_event(13, source="a/b"), "invalid_source"),
    (make_event(14, source="a=b"), "invalid_source"),
    (make_event(15, source=""), "invalid_source"),
    (make_event(16, source="tab\there"), "invalid_source"),
    ({**make_event(17), "source": 5}, "invalid_source"),
    (make_event(18, source="Shop.Orders"), "invalid_source"),  # the query library could never read it
    (make_event(19, source="a" * 129), "invalid_source"),
    (make_event(20, source="shop.orders\n"), "invalid_source"),
    (make_event(21, time="0999-01-01T00:00:00Z"), "invalid_time"),  # once crashed the whole run
    (make_event(22, time="1969-12-31T23:59:59.999Z"), "invalid_time"),
    (make_event(23, time="1970-01-01T00:30:00+01:00"), "invalid_time"),  # 1969 in UTC
    (make_event(24, time="9999-12-31T23:59:59.999-01:00"), "invalid_time"),  # year 10000 crashed the run
    (make_event(25, time="10000-01-01T00:00:00Z"), "invalid_time"),
    (make_event(26, entities=[{"entity": {"id": "o-1\n"}}]), "id_control_character"),
    (make_event(27, entities=[{"entity": {"id": "o\r1"}}]), "id_control_character"),
    (make_event(28, entities=[{"entity": {"id": "\u0000"}}]), "id_control_character"),
    (make_event(29, entities=[{"entity": {"id": "a"}, "parent": {"id": "p\x85"}}]), "id_control_character"),
    (make_event(30, entities=[{"entity": {"id": "a"}}, {"entity": {"id": "b\x7f"}}]), "id_control_character"),
]


@pytest.mark.parametrize("escape", ["", "\\u00e9"])  # plain: mostly the SQL path; an escape: the Python path
@pytest.mark.parametrize(("record", "reason"), QUARANTINE_CASES)
def test_bad_record_is_quarantined_with_reason(tmp_path: Path, record, reason: str, escape: str) -> None:
    if escape and not isinstance(record, str):
        record = {**record, "note": "NOTE"}
    text = record if isinstance(record, str) else json.dumps(record, separators=(",", ":"))
    text = text.replace("NOTE", escape)
    path = write_raw(tmp_path, ARRIVAL, [make_event(100), text])
    report = run_etl(tmp_path, DAY)
    (entry,) = quarantine(tmp_path)
    assert entry["reason"] == reason and entry["message"].startswith(MESSAGES[reason])
    assert entry == {**entry, "run_id": "run-20261127", "line": 2, "raw": text,
                     "file": path.relative_to(tmp_path).as_posix()}
    assert report.quarantine_reasons == {reason: 1} and report.quarantined == 1
    assert [r["EventId"] for r in rows(tmp_path)] == ["ev-100"]
    check_invariant(report)


def test_bad_record_inside_a_concatenated_line_is_quarantined(tmp_path: Path) -> None:
    good = json.dumps(make_event(1))
    write_raw(tmp_path, ARRIVAL, [good + '[1]{"broken":'])
    report = run_etl(tmp_path, DAY)
    assert [(q["reason"], q["raw"]) for q in quarantine(tmp_path)] == [
        ("not_an_object", "[1]"), ("invalid_json", '{"broken":')]
    assert report.events_in == 3 and report.events_stored == 1
    check_invariant(report)


def test_before_after_text_is_the_minified_source(tmp_path: Path) -> None:
    source_before = (
        '{ "z" : 1.10, "a": 1e3, "big": 12345678901234567890,\t"u": "\\u00e9\\"\\/\\n", '
        '"n": [[1, [2, {"q": null}]], []] }'
    )
    minified_before = (
        '{"z":1.10,"a":1e3,"big":12345678901234567890,"u":"\\u00e9\\"\\/\\n","n":[[1,[2,{"q":null}]],[]]}'
    )
    plain_after = '{"k2":"v","k1":[1,2.5,true]}'
    item = f'{{"entity": {{"id": 42}}, "before": {source_before}, "after": {plain_after}}}'
    line = json.dumps(make_event(1, entities=["ITEM"])).replace('"ITEM"', item)
    plain = json.dumps(make_event(2, entities=[{"entity": {"id": 1}, "before": json.loads(plain_after)}]))
    write_raw(tmp_path, ARRIVAL, [line, plain])
    run_etl(tmp_path, DAY)
    got = {r["EventId"]: r for r in rows(tmp_path)}
    assert got["ev-1"]["Before"] == minified_before
    assert got["ev-1"]["After"] == plain_after
    assert got["ev-2"]["Before"] == plain_after and got["ev-2"]["After"] is None


def test_field_mapping_ids_actor_types_and_time(tmp_path: Path) -> None:
    events = [
        make_event(0, actor={"type": 0, "name": "svc"}, time="2026-11-27T10:00:00.123999Z"),
        make_event(1, actor={"type": 1}, time="2026-11-27T01:30:00.5+02:00"),
        make_event(2, actor={"type": "2"}, time="2026-11-26T22:00:00-03:00"),
        make_event(3, actor={"type": 7}, entities=[{"entity": {"id": 42}, "parent": {"id": 9, "type": "C"}}]),
        make_event(4, actor={}),
    ]
    write_raw(tmp_path, ARRIVAL, events)
    report = run_etl(tmp_path, DAY)
    got = {r["EventId"]: r for r in rows(tmp_path)}
    assert [got[f"ev-{i}"]["ActorType"] for i in range(5)] == ["Service", "User", "Client", "7", None]
    assert got["ev-0"]["Timestamp"] == datetime(2026, 11, 27, 10, 0, 0, 123000)
    assert got["ev-1"]["Timestamp"] == datetime(2026, 11, 26, 23, 30, 0, 500000)
    assert got["ev-1"]["dt"] == "2026-11-26"
    assert got["ev-2"]["Timestamp"] == datetime(2026, 11, 27, 1, 0)
    assert (got["ev-3"]["EntityId"], got["ev-3"]["EntityParentId"]) == ("42", "9")
    assert got["ev-0"]["ActorName"] == "svc" and got["ev-0"]["Action"] == "Update"
    assert got["ev-0"]["DetailType"] == "EntityChanged" and got["ev-0"]["CorrelationId"] == "corr-0"
    assert report.late_rows == 1


def test_parquet_schema_layout_and_hive_query(tmp_path: Path) -> None:
    three = [{"entity": {"id": f"e{j}"}} for j in (2, 0, 1)]
    events = [make_event(i, source=s, entities=three) for i, s in enumerate(["b.svc", "a.svc", "b.svc"])]
    write_raw(tmp_path, ARRIVAL, events)
    report = run_etl(tmp_path, DAY)
    prefix = "analytics/auditlog/dt=2026-11-27/source="
    expected = [f"{prefix}{s}/run-20261127.parquet" for s in ("a.svc", "b.svc")]
    assert [p["file"] for p in report.partitions] == expected
    assert [p["rows"] for p in report.partitions] == [3, 6]
    for rel in expected:
        schema = pq.read_schema(tmp_path / rel)
        assert schema.equals(arrow_schema()) and schema.field("Timestamp").type == "timestamp[ms]"
        table = pq.read_table(tmp_path / rel)
        keys = list(zip(*(table[c].to_pylist() for c in ("EntityId", "Timestamp", "Id")), strict=True))
        assert keys == sorted(keys)
    glob = (tmp_path / "analytics/auditlog").as_posix() + "/*/*/*.parquet"
    got = duckdb.sql(f"SELECT source, count(*) FROM read_parquet('{glob}', hive_partitioning=true) "
                     "WHERE dt = '2026-11-27' GROUP BY source ORDER BY source").fetchall()
    assert got == [("a.svc", 3), ("b.svc", 6)]
    assert [r["Id"] for r in rows(tmp_path) if r["EventId"] == "ev-0"] == ["ev-0:0", "ev-0:1", "ev-0:2"]
    assert tuple(rows(tmp_path)[0])[: len(COLUMN_NAMES)] == COLUMN_NAMES
    saved = json.loads((tmp_path / layout.report_key(DAY)).read_text())
    assert saved == {**report.to_dict(), "partitions": report.partitions}
    assert saved["engine"] == "duckdb" and saved["files_in"] == 1


def test_raw_days_run_all_and_missing_day(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="year=2026/month=11/day=27"):
        run_etl(tmp_path, DAY)
    with pytest.raises(ValueError, match="no raw"):
        run_all(tmp_path)
    write_raw(tmp_path, datetime(2026, 11, 27, 3), [make_event(1)])
    write_raw(tmp_path, datetime(2026, 11, 25, 23), [make_event(2, time="2026-11-25T23:00:00Z")])
    (tmp_path / layout.raw_hour_prefix(datetime(2026, 11, 26, 1))).mkdir(parents=True)  # empty: no day
    assert raw_days(tmp_path) == [date(2026, 11, 25), DAY]
    reports = run_all(tmp_path)
    assert [r.run_id for r in reports] == ["run-20261125", "run-20261127"]
    assert {r["EventId"] for r in rows(tmp_path)} == {"ev-1", "ev-2"}


def test_non_utf8_line_is_quarantined_and_the_rest_stored(tmp_path: Path) -> None:
    good = json.dumps(make_event(1)).encode()
    write_raw(tmp_path, ARRIVAL, good + b"\n\xff{}\r\n" + good.replace(b"ev-1", b"ev-2") + b"\n")
    report = run_etl(tmp_path, DAY)
    got = [(q["line"], q["reason"], q["raw"]) for q in quarantine(tmp_path)]
    assert got == [(2, "invalid_json", "\ufffd{}")]
    assert [r["EventId"] for r in rows(tmp_path)] == ["ev-1", "ev-2"]
    check_invariant(report)


@pytest.mark.parametrize("escape", ["", "\\u00e9"])  # plain: the SQL path; an escape: the Python path
def test_edge_times_and_keyless_events_are_stored_alike_on_both_paths(tmp_path: Path, escape: str) -> None:
    # 1969-12-31 local with a negative offset is 1970-01-01 in UTC: stored, not quarantined. An event with no
    # event_id and no envelope id gets Id ":0" (SEMANTICS rule 6), never a NULL Id.
    early = json.dumps(make_event(1, time="1969-12-31T23:59:59.999-00:01", note="NOTE"))
    keyless = {k: v for k, v in make_event(2, event_id=None, note="NOTE").items() if k != "id"}
    lines = [early.replace("NOTE", escape), json.dumps(keyless).replace("NOTE", escape)]
    write_raw(tmp_path, ARRIVAL, lines)
    report = run_etl(tmp_path, DAY)
    assert report.quarantined == 0 and report.events_stored == 2
    got = {r["EntityId"]: r for r in rows(tmp_path)}
    assert got["o-1"]["Timestamp"] == datetime(1970, 1, 1, 0, 0, 59, 999000)
    assert got["o-1"]["dt"] == "1970-01-01"
    assert (got["o-2"]["Id"], got["o-2"]["EventId"]) == (":0", None)


@pytest.mark.parametrize("escape", ["", "\\u00e9"])
def test_times_past_the_nanosecond_range_are_stored_up_to_year_9999(tmp_path: Path, escape: str) -> None:
    """DuckDB's nanosecond timestamps end at 2262-04-11T23:47:16.854Z; a later time once crashed the whole day
    with `Could not convert Timestamp to higher precision`. Up to MAX_EVENT_TIME it is stored."""
    times = ["2262-04-12T00:00:00Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999+01:00"]
    lines = [json.dumps(make_event(i, time=t, note="NOTE")) for i, t in enumerate(times)]
    lines = [line.replace("NOTE", escape) for line in lines]
    write_raw(tmp_path, ARRIVAL, [make_event(100), *lines])
    report = run_etl(tmp_path, DAY)
    assert report.quarantined == 0 and report.events_stored == 4
    got = {r["EventId"]: (r["Timestamp"], r["dt"]) for r in rows(tmp_path)}
    assert got["ev-0"] == (datetime(2262, 4, 12), "2262-04-12")
    assert got["ev-1"] == (datetime(9999, 12, 31, 23, 59, 59, 999000), "9999-12-31")
    assert got["ev-2"] == (datetime(9999, 12, 31, 22, 59, 59, 999000), "9999-12-31")
    assert report.max_event_time == "9999-12-31T23:59:59.999Z"


def test_quarantined_text_with_unicode_line_separators_stays_one_line(tmp_path: Path) -> None:
    """U+0085/U+2028/U+2029 inside a quarantined record are escaped in the JSON Lines file: readers split it
    with str.splitlines() (audit_query.runs), which would otherwise cut the entry in two."""
    bad = make_event(1, entities=[{"entity": {"id": "a\x85b"}}], note="x\u2028y\u2029z")
    write_raw(tmp_path, ARRIVAL, [make_event(2), json.dumps(bad, ensure_ascii=False)])
    run_etl(tmp_path, DAY)
    (entry,) = quarantine(tmp_path)
    assert entry["reason"] == "id_control_character"
    assert json.loads(entry["raw"])["detail"]["note"] == "x\u2028y\u2029z"


def test_a_rerun_prunes_the_partition_folders_it_emptied(tmp_path: Path) -> None:
    """SEMANTICS §11: when a rerun no longer writes a (dt, source), that partition's folders go with the old
    file (a reader listing dt=/source= folders must not find empty partitions), other runs' folders stay."""
    path = write_raw(tmp_path, ARRIVAL, [make_event(1, source="old.svc", time="2026-11-20T10:00:00Z"),
                                         make_event(2)])
    write_raw(tmp_path, datetime(2026, 11, 26, 9), [make_event(3, time="2026-11-26T01:00:00Z")])
    run_etl(tmp_path, date(2026, 11, 26))
    run_etl(tmp_path, DAY)
    analytics = tmp_path / layout.ANALYTICS_PREFIX
    assert (analytics / "dt=2026-11-20" / "source=old.svc").is_dir()
    write_raw(tmp_path, ARRIVAL, [make_event(2)], name=path.name)  # the object now holds only the 27th
    run_etl(tmp_path, DAY)
    assert not (analytics / "dt=2026-11-20").exists()
    assert sorted(p.name for p in analytics.iterdir()) == ["dt=2026-11-26", "dt=2026-11-27"]
    assert not (tmp_path / "analytics" / "_staging").exists()
