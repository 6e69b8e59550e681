"""The default search leaves out the explorer's own access events (source auditlog.explorer) unless the
"Include explorer access events" switch asks for them; a source named explicitly is always searched.
Through the library and `auditlog query` (the Search form: tests/explorer/test_search_order.py). Also
`--order` on the command line, checked against a plain DuckDB query."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from audit_query import AuditLogClient, AuditLogQuery, filters
from audit_query.backends.duckdb import DuckDBBackend
from auditlog.cli import main

from .conftest import SETTINGS, make_row, write_rows

DAY = date(2026, 11, 25)
EXPLORER = filters.EXPLORER_SOURCE


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("explorer-events")
    start = datetime(DAY.year, DAY.month, DAY.day, 9)
    rows = [
        make_row(f"o{i:02d}:0", start + timedelta(minutes=i), "shop.orders", Action="Update")
        for i in range(6)
    ]
    rows += [
        make_row(f"x{i:02d}:0", start + timedelta(minutes=i, seconds=30), EXPLORER, Action="Read")
        for i in range(4)
    ]
    write_rows(folder, rows)
    return folder


@pytest.fixture()
def only_explorer(tmp_path: Path) -> Path:
    row = make_row("x0:0", datetime(DAY.year, DAY.month, DAY.day, 9), EXPLORER, Action="Read")
    write_rows(tmp_path, [row])
    return tmp_path


@pytest.fixture(autouse=True)
def _no_access_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITLOG_ACCESS_LOG", "off")  # the CLI's own reads would add explorer events


def ids_of(data_dir: Path, sources: tuple[str, ...], order: str = "DESC") -> list[str]:
    """The oracle: ids of the day's rows in `sources`, by plain DuckDB."""
    glob = str(data_dir / "analytics" / "auditlog" / "**" / "*.parquet")
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT Id FROM read_parquet(?, hive_partitioning = true) WHERE source IN ? "  # noqa: S608
            f"ORDER BY Timestamp {order}, Id {order}",
            [glob, list(sources)],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def cli(capsys: Any, data_dir: Path, *extra: str) -> tuple[int, list[str], str]:
    argv = ["query", "--data-dir", str(data_dir), "--from", DAY.isoformat(), "--format", "jsonl", "--all"]
    code = main([*argv, *extra])
    out, err = capsys.readouterr()
    return code, [json.loads(line)["Id"] for line in out.splitlines()], err


def test_the_library_default_sources_leave_out_explorer_events(data_dir: Path) -> None:
    with DuckDBBackend(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        assert client.sources() == [EXPLORER, "shop.orders"]
        assert client.default_sources() == ("shop.orders",)
        assert client.default_sources(include_explorer_events=True) == (EXPLORER, "shop.orders")
        default = client.query(AuditLogQuery(DAY, DAY, client.default_sources(), limit=100))
        assert [r.Id for r in default.rows] == ids_of(data_dir, ("shop.orders",))
        named = client.query(AuditLogQuery(DAY, DAY, (EXPLORER,), limit=100))
        assert [r.Id for r in named.rows] == ids_of(data_dir, (EXPLORER,)) and named.rows


def test_cli_default_leaves_out_explorer_events_and_the_flag_or_a_source_brings_them(
    capsys, data_dir
) -> None:
    code, got, err = cli(capsys, data_dir)
    assert code == 0, err
    assert got == ids_of(data_dir, ("shop.orders",))
    code, got, err = cli(capsys, data_dir, "--include-explorer-events")
    assert code == 0, err
    assert got == ids_of(data_dir, (EXPLORER, "shop.orders"))
    code, got, err = cli(capsys, data_dir, "--source", EXPLORER)
    assert code == 0, err
    assert got == ids_of(data_dir, (EXPLORER,))


def test_cli_with_only_explorer_events_says_how_to_see_them(capsys, only_explorer: Path) -> None:
    code, got, err = cli(capsys, only_explorer)
    assert code == 2 and got == []
    assert "--include-explorer-events" in err and f"--source {EXPLORER}" in err
    code, got, err = cli(capsys, only_explorer, "--include-explorer-events")
    assert code == 0 and got == ["x0:0"]


def test_cli_help_names_the_switch_and_the_order(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["query", "--help"])
    out = capsys.readouterr().out
    assert "--include-explorer-events" in out and "--order {newest,oldest}" in out


@pytest.mark.parametrize("order", ["newest", "oldest"])
@pytest.mark.parametrize("limit", ["1", "3", "100"])
def test_cli_order_pages_equal_the_oracle(capsys, data_dir: Path, order: str, limit: str) -> None:
    code, got, err = cli(capsys, data_dir, "--include-explorer-events", "--order", order, "--limit", limit)
    assert code == 0, err
    assert got == ids_of(data_dir, (EXPLORER, "shop.orders"), "DESC" if order == "newest" else "ASC")


def test_cli_rejects_an_unknown_order(capsys, data_dir: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["query", "--data-dir", str(data_dir), "--from", DAY.isoformat(), "--order", "random"])
    assert exc.value.code == 2 and "invalid choice: 'random'" in capsys.readouterr().err
