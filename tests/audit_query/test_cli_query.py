"""`auditlog query` and `auditlog export` through `auditlog.cli.main`, on the real Parquet fixtures (DuckDB):
output rows equal the library's rows, exports hold every page, errors are one line with exit 2."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from audit_query import AuditLogClient, AuditLogQuery
from audit_query.cli import TABLE_COLUMNS
from audit_query.export import csv_cells, timestamp_iso
from auditlog.cli import main
from tests.sqli import sqli_lines

from .conftest import (
    DAYS,
    HOSTILE_DAY,
    HOSTILE_SOURCE,
    SOURCES,
    is_acceptable,
    make_row,
    write_rows,
)

FILTERS = ["--from", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat(), "--source", "billing"]
FILTERS += ["--source", "shop.orders", "--action", "Update", "--action", "Create"]
VIEW = AuditLogQuery(DAYS[0], DAYS[-1], ("billing", "shop.orders"), actions=("Update", "Create"))


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def plain(record: Any) -> dict[str, Any]:
    d = record.to_dict()
    d["Timestamp"] = timestamp_iso(d["Timestamp"])
    return d


def every_row(client: AuditLogClient, q: AuditLogQuery) -> list[Any]:
    return [r for p in client.iter_pages(q) for r in p.rows]


def test_query_jsonl_equals_the_first_page(capsys: Any, dataset: Any, client: AuditLogClient) -> None:
    code, out, err = run(
        capsys, "query", "--data-dir", str(dataset[0]), *FILTERS, "--limit", "15", "--format", "jsonl"
    )
    assert code == 0
    page = client.query(AuditLogQuery(**{**VIEW.__dict__, "limit": 15}))
    assert [json.loads(line) for line in out.splitlines()] == [
        {**plain(r), "NotYetProcessed": False} for r in page.rows
    ]
    assert "more match" in err and "--all" in err


def test_query_csv_equals_the_first_page(capsys: Any, dataset: Any, client: AuditLogClient) -> None:
    code, out, _ = run(
        capsys, "query", "--data-dir", str(dataset[0]), *FILTERS, "--limit", "40", "--format", "csv"
    )
    assert code == 0
    table = list(csv.reader(io.StringIO(out, newline="")))
    page = client.query(AuditLogQuery(**{**VIEW.__dict__, "limit": 40}))
    assert table[1:] == [csv_cells(r) for r in page.rows] and len(page.rows) == 40


def test_query_table_is_aligned_and_lists_the_page_rows(
    capsys: Any, dataset: Any, client: AuditLogClient
) -> None:
    code, out, _ = run(capsys, "query", "--data-dir", str(dataset[0]), *FILTERS, "--limit", "12")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [*TABLE_COLUMNS, "NotYetProcessed"]
    page = client.query(AuditLogQuery(**{**VIEW.__dict__, "limit": 12}))
    body = lines[2:]
    assert [line.split()[:2] for line in body] == [[timestamp_iso(r.Timestamp), r.Id] for r in page.rows]
    # columns line up: every column starts at the same offset on every line
    starts = [i for i in range(1, len(lines[1])) if lines[1][i] == "-" and lines[1][i - 1] == " "]
    for line in body:
        assert all(line[i - 1] == " " for i in starts if i < len(line))


def test_query_all_follows_every_page(capsys: Any, dataset: Any, client: AuditLogClient) -> None:
    code, out, err = run(
        capsys,
        "query",
        "--data-dir",
        str(dataset[0]),
        *FILTERS,
        "--limit",
        "30",
        "--all",
        "--format",
        "jsonl",
    )
    assert code == 0 and "more match" not in err
    want = every_row(client, VIEW)
    assert len(want) > 60
    assert [json.loads(line)["Id"] for line in out.splitlines()] == [r.Id for r in want]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_every_row_of_the_view(
    capsys: Any, dataset: Any, client: AuditLogClient, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"view.{fmt}"
    code, stdout, err = run(
        capsys,
        "export",
        "--data-dir",
        str(dataset[0]),
        *FILTERS,
        "--limit",
        "25",
        "--format",
        fmt,
        "--output",
        str(out),
    )
    assert code == 0 and stdout == ""
    want = every_row(client, VIEW)
    assert len(want) > 3 * 25
    if fmt == "csv":
        with out.open(newline="", encoding="utf-8") as f:
            ids = [r["Id"] for r in csv.DictReader(f)]
    elif fmt == "jsonl":
        ids = [json.loads(line)["Id"] for line in out.read_text(encoding="utf-8").splitlines()]
    else:
        table = pq.read_table(out)
        ids = table.column("Id").to_pylist()
        assert pq.ParquetFile(out).metadata.num_row_groups == -(-len(want) // 25)
    assert ids == [r.Id for r in want]
    assert err.splitlines()[-1] == f"{len(want)} rows -> {out}"
    assert f"exporting: {len(want):,} / {len(want):,} rows" in err


def test_export_csv_neutralises_formulas(capsys: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_rows(data, [make_row("x:0", datetime(2026, 11, 26, 9), "sheet", ActorName="=cmd|' /C calc'!A0")])
    out = tmp_path / "x.csv"
    code, _, _ = run(
        capsys,
        "export",
        "--data-dir",
        str(data),
        "--from",
        "2026-11-26",
        "--format",
        "csv",
        "--output",
        str(out),
    )
    assert code == 0
    row = next(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert row["ActorName"] == "'=cmd|' /C calc'!A0" and row["source"] == "sheet"


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--from", "2026-11-25", "--source", "Bad Source!"], "sources"),
        (["--from", "2026-11-26", "--to", "2026-11-20", "--source", "billing"], "date_to"),
        (["--from", "26/11/2026", "--source", "billing"], "date_from"),
        (["--from", "2026-11-26", "--source", "billing", "--action", "Explode"], "actions"),
        (["--from", "2026-11-26", "--source", "billing", "--include-children"], "include_children"),
        (["--from", "2026-11-26", "--source", "billing", "--limit", "100000"], "limit"),
    ],
)
def test_validation_errors_are_one_line_naming_the_field(
    capsys: Any, dataset: Any, tmp_path: Path, argv: list[str], field: str
) -> None:
    for command in (["query"], ["export", "--format", "csv", "--output", str(tmp_path / "o.csv")]):
        code, out, err = run(capsys, *command, "--data-dir", str(dataset[0]), *argv)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert err.startswith(f"auditlog {command[0]}: error: {field}:")
    assert not (tmp_path / "o.csv").exists()


def test_hostile_actor_names_run_and_match_literally(capsys: Any, dataset: Any, rows: list[dict]) -> None:
    lines = [v for v in sqli_lines() if is_acceptable(v)]
    sample = [v for v in lines if any(c in v for c in "'\";\\-")][::4][:40]
    assert len(sample) >= 20
    day = HOSTILE_DAY.isoformat()
    for value in sample:
        code, out, err = run(
            capsys,
            "query",
            "--data-dir",
            str(dataset[0]),
            "--from",
            day,
            "--source",
            HOSTILE_SOURCE,
            f"--actor={value}",
            "--format",
            "jsonl",
            "--all",
        )
        assert code == 0, err
        got = sorted(json.loads(line)["Id"] for line in out.splitlines())
        want = sorted(r["Id"] for r in rows if r["source"] == HOSTILE_SOURCE and r["ActorName"] == value)
        assert got == want and want, value


def test_sources_default_to_every_discovered_source(
    capsys: Any, dataset: Any, client: AuditLogClient
) -> None:
    code, out, _ = run(
        capsys,
        "query",
        "--data-dir",
        str(dataset[0]),
        "--from",
        DAYS[1].isoformat(),
        "--format",
        "jsonl",
        "--all",
    )
    assert code == 0
    want = every_row(client, AuditLogQuery(DAYS[1], DAYS[1], (*SOURCES, HOSTILE_SOURCE)))
    assert [json.loads(line)["Id"] for line in out.splitlines()] == [r.Id for r in want]


def test_athena_engine_errors_are_one_line_with_exit_1(capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AUDITLOG_BACKEND", "athena")
    monkeypatch.setenv("AUDITLOG_ATHENA_WORKGROUP", "missing-wg")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    with mock_aws():
        code, out, err = run(capsys, "query", "--from", "2026-11-26", "--source", "billing")
    assert code == 1 and out == ""
    assert err.strip() == (
        "auditlog query: error: Athena query failed (not started): "
        "An error occurred (InvalidRequestException) when calling the StartQueryExecution operation: "
        "WorkGroup does not exist"
    )


def test_a_folder_with_an_unqueryable_source_name_does_not_break_default_queries(
    capsys: Any, tmp_path: Path
) -> None:
    """Data put under source=Shop.Orders by hand must not turn every query without --source into an error."""
    ts = datetime(2026, 11, 26, 12, 0, 0)
    write_rows(tmp_path, [make_row("a:0", ts, "shop.orders"), make_row("b:0", ts, "Shop.Orders")])
    argv = ["query", "--data-dir", str(tmp_path), "--from", "2026-11-26", "--format", "jsonl"]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    assert [json.loads(line)["Id"] for line in out.splitlines()] == ["a:0"]


def test_default_page_size_comes_from_settings(capsys: Any, dataset: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AUDITLOG_DEFAULT_LIMIT", "3")
    code, out, _ = run(capsys, "query", "--data-dir", str(dataset[0]), *FILTERS, "--format", "jsonl")
    assert code == 0 and len(out.splitlines()) == 3


def test_athena_without_a_region_is_one_line_saying_what_to_set(capsys: Any, monkeypatch: Any) -> None:
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AUDITLOG_BACKEND", "athena")
    code, out, err = run(capsys, "query", "--from", "2026-11-26", "--source", "shop.orders")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "AWS_REGION" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "extra",
    [
        {"actor_name": "-1"},
        {"entity_id": "--format", "include_children": True},
        {"correlation_id": "a b 'c' \"d\"", "channel_codes": ("-web", "ios app")},
        {"entity_types": ("-Order",), "actor_types": ("User",), "actions": ("Delete",)},
    ],
)
def test_the_suggested_export_command_reproduces_the_view(extra: dict[str, Any], tmp_path: Path) -> None:
    """The explorer shows `export_command` for views over its cap; pasted into a shell it must export the
    same view, even for values that start with '-' or hold spaces and quotes."""
    import shlex

    from audit_query.cli import query_from_args
    from audit_query.export import export_command
    from auditlog.cli import build_parser

    view = AuditLogQuery(DAYS[0], DAYS[-1], ("billing", "shop.orders"), **extra)
    argv = shlex.split(export_command(view, "parquet", str(tmp_path / "x.parquet"), data_dir=str(tmp_path)))
    assert argv[:2] == ["auditlog", "export"]
    args = build_parser().parse_args(argv[1:])
    assert args.data_dir == tmp_path
    assert query_from_args(args, settings=None) == AuditLogQuery(**{**view.__dict__, "limit": 100})


@pytest.mark.parametrize("typed", ["ALICE", "lic"])
def test_query_actor_contains_and_a_time_window_match_the_oracle(
    capsys: Any, dataset: Any, rows: list[dict[str, Any]], typed: str
) -> None:
    """`--actor-contains` in any case and `--from/--to` date-times through the real CLI, checked against the
    fixture rows themselves (no SQL in the oracle)."""
    day = DAYS[1]
    window = ["--from", f"{day}T12:00:01", "--to", f"{day}T12:00:04Z"]
    code, out, err = run(
        capsys, "query", "--data-dir", str(dataset[0]), *window, "--source", "billing",
        "--actor-contains", typed, "--all", "--format", "jsonl",
    )
    assert code == 0, err
    got = sorted(json.loads(line)["Id"] for line in out.splitlines())
    start = datetime(day.year, day.month, day.day, 12, 0, 1)
    end = datetime(day.year, day.month, day.day, 12, 0, 5)
    expected = sorted(
        r["Id"]
        for r in rows
        if r["source"] == "billing"
        and typed.lower() in (r.get("ActorName") or "").lower()
        and start <= r["Timestamp"].replace(tzinfo=None) < end
    )
    assert got == expected and got
