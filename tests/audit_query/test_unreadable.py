"""A broken Parquet file degrades a query instead of failing it (issue 10 item 5).

Real DuckDB on real Parquet: a copy of the fixture data folder with one data file truncated (or garbled in
the middle, its footer intact). Every read (page, count, counts, history, correlation) answers from the
readable files, equal to the same read over a folder without the broken file, and names the partition it
could not read by dt and source, never by a server path.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit_query import AuditLogClient, AuditLogQuery
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.model import UnreadableFile
from etl import layout, schema

from .conftest import DAYS, SETTINGS, SOURCES

BAD_DAY, BAD_SOURCE = date(2026, 11, 25), "billing"
BAD_FILE = f"{layout.analytics_partition_prefix(BAD_DAY, BAD_SOURCE)}run-20261127.parquet"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(path: Path) -> None:
    """Overwrite the bytes after the leading magic: the footer still reads, the data pages do not."""
    data = bytearray(path.read_bytes())
    data[8:400] = b"\xab" * 392
    path.write_bytes(bytes(data))


@pytest.fixture()
def folders(dataset: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> tuple[Path, Path]:
    """(a copy of the fixture folder whose BAD_FILE is truncated, a copy without BAD_FILE: the oracle)."""
    broken = tmp_path / "broken"
    shutil.copytree(dataset[0], broken)
    _truncate(broken / BAD_FILE)
    oracle = tmp_path / "oracle"
    shutil.copytree(dataset[0], oracle)
    (oracle / BAD_FILE).unlink()
    return broken, oracle


def _clients(folders: tuple[Path, Path]) -> tuple[AuditLogClient, AuditLogClient]:
    return (
        AuditLogClient(DuckDBBackend(folders[0]), SETTINGS),
        AuditLogClient(DuckDBBackend(folders[1]), SETTINGS),
    )


EXPECTED = (UnreadableFile(file=BAD_FILE, dt=BAD_DAY.isoformat(), source=BAD_SOURCE, error="x"),)


def _same_partitions(got: tuple[UnreadableFile, ...]) -> list[tuple[str | None, str | None, str]]:
    return [(u.dt, u.source, u.file) for u in got]


def _no_server_path(got: tuple[UnreadableFile, ...], folder: Path) -> None:
    for u in got:
        for text in (u.file, u.error, u.label, str(u)):
            assert str(folder) not in text and str(folder.resolve()) not in text, text


@pytest.mark.parametrize("damage", [_truncate, _garble], ids=["truncated", "garbled"])
def test_pages_answer_from_the_readable_files_and_name_the_broken_partition(
    folders: tuple[Path, Path], damage: Any
) -> None:
    damage(folders[0] / BAD_FILE)
    client, oracle = _clients(folders)
    q = AuditLogQuery(DAYS[0], DAYS[-1], SOURCES, limit=1000)
    page = client.query(q)
    assert page.rows == oracle.query(q).rows and len(page.rows) > 0
    assert _same_partitions(page.unreadable) == _same_partitions(EXPECTED)
    _no_server_path(page.unreadable, folders[0])
    assert "could not be read" not in page.unreadable[0].error  # the engine's reason, not ours
    # a second query knows the file already (no error to hit) and still says so
    again = client.query(AuditLogQuery(BAD_DAY, BAD_DAY, (BAD_SOURCE, "crm-app")))
    assert _same_partitions(again.unreadable) == _same_partitions(EXPECTED)
    assert again.rows == oracle.query(AuditLogQuery(BAD_DAY, BAD_DAY, (BAD_SOURCE, "crm-app"))).rows


def test_every_read_degrades_and_says_which_partition(folders: tuple[Path, Path]) -> None:
    client, oracle = _clients(folders)
    q = AuditLogQuery(DAYS[0], DAYS[-1], SOURCES)
    total = client.count(q)
    assert total == oracle.count(q) and _same_partitions(total.unreadable) == _same_partitions(EXPECTED)
    counts = client.counts(q, ["day", "source"])
    assert counts == oracle.counts(q, ["day", "source"])
    assert _same_partitions(counts.unreadable) == _same_partitions(EXPECTED)
    kw: dict[str, Any] = {"date_from": DAYS[0], "date_to": DAYS[-1], "sources": SOURCES}
    history = client.history("order-1", **kw)
    assert history == oracle.history("order-1", **kw) and len(history) > 0
    assert _same_partitions(history.unreadable) == _same_partitions(EXPECTED)
    related = client.correlation("corr-A", **kw)
    assert related == oracle.correlation("corr-A", **kw) and len(related) > 0
    assert _same_partitions(related.unreadable) == _same_partitions(EXPECTED)


def test_a_read_that_does_not_touch_the_broken_file_says_nothing(folders: tuple[Path, Path]) -> None:
    client, _ = _clients(folders)
    client.query(AuditLogQuery(DAYS[0], DAYS[-1], SOURCES))  # learns of the broken file
    assert client.query(AuditLogQuery(DAYS[0], DAYS[-1], ("crm-app",))).unreadable == ()
    assert client.query(AuditLogQuery(DAYS[0], DAYS[0], (BAD_SOURCE,))).unreadable == ()


def test_a_repaired_file_is_read_again(folders: tuple[Path, Path], dataset: Any) -> None:
    client, _ = _clients(folders)
    q = AuditLogQuery(BAD_DAY, BAD_DAY, (BAD_SOURCE,), limit=1000)
    assert client.query(q).unreadable and client.query(q).rows == []
    shutil.copyfile(dataset[0] / BAD_FILE, folders[0] / BAD_FILE)  # a re-run rewrites it
    page = client.query(q)
    assert page.unreadable == () and len(page.rows) == 40


def test_an_engine_error_that_is_no_file_problem_still_fails_without_a_server_path(
    folders: tuple[Path, Path],
) -> None:
    backend = DuckDBBackend(folders[0])
    with pytest.raises(Exception) as caught:
        backend.run(AuditLogQuery(DAYS[0], DAYS[-1], SOURCES), lambda ref: f"SELECT nope FROM {ref}")
    assert "nope" in str(caught.value) and str(folders[0]) not in str(caught.value)


def test_unreadable_files_lists_every_broken_file_relative_to_the_data_folder(
    folders: tuple[Path, Path],
) -> None:
    broken = folders[0]
    index = broken / layout.entity_index_key_for_run("run-20261127")
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_bytes(b"PAR1 not really")
    client, oracle = _clients(folders)
    found = client.unreadable_files()
    assert [(u.dt, u.source, u.file) for u in found] == [
        (BAD_DAY.isoformat(), BAD_SOURCE, BAD_FILE),
        (None, None, layout.entity_index_key_for_run("run-20261127")),
    ]
    _no_server_path(tuple(found), broken)
    assert oracle.unreadable_files() == []


def _write_index(data_dir: Path, run: str, pairs: list[tuple[str, str, str]]) -> None:
    """An entity index file as the ETL writes it: (id, dt, source) rows."""
    path = data_dir / layout.entity_index_key_for_run(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = schema.INDEX_COLUMN_NAMES
    table = pa.Table.from_pylist([dict(zip(names, p, strict=True)) for p in pairs])
    pq.write_table(table, path)


def test_an_unreadable_entity_index_is_reported_and_the_history_still_answers(
    dataset: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(dataset[0], data_dir)
    index = data_dir / layout.entity_index_key_for_run("run-20261127")
    _write_index(data_dir, "run-20261127", [("order-1", DAYS[0].isoformat(), "billing")])
    kw: dict[str, Any] = {"date_from": DAYS[0], "date_to": DAYS[-1], "sources": SOURCES}
    with DuckDBBackend(dataset[0]) as plain:  # no index folder: the full scan
        expected = AuditLogClient(plain, SETTINGS).history("order-1", **kw)
    with DuckDBBackend(data_dir) as backend:
        client = AuditLogClient(backend, SETTINGS)
        narrowed = client.history("order-1", **kw)  # the (wrong, hand-made) index is believed
        assert {r.dt for r in narrowed} == {DAYS[0].isoformat()} and narrowed.unreadable == ()
        _truncate(index)
        history = client.history("order-1", **kw)
    assert history == expected and len({r.dt for r in history}) == 3  # read every partition
    assert [(u.dt, u.source, u.file) for u in history.unreadable] == [
        (None, None, layout.entity_index_key_for_run("run-20261127"))
    ]
    assert "entity index" in history.unreadable[0].label
    _no_server_path(history.unreadable, data_dir)


def test_a_range_read_by_glob_also_degrades(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit_query.backends.duckdb as engine

    monkeypatch.setattr(engine, "MAX_LISTED_FILES", 2)  # 3 days x 3 sources: the glob over the whole table
    client, oracle = _clients(folders)
    q = AuditLogQuery(DAYS[0], DAYS[-1], SOURCES, limit=1000)
    assert "**" in client.backend.table_ref(q)
    page = client.query(q)
    assert page.rows == oracle.query(q).rows
    assert _same_partitions(page.unreadable) == _same_partitions(EXPECTED)


def test_a_file_replaced_while_the_query_runs_is_read_again_not_reported(
    dataset: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(dataset[0], data_dir)
    moved = data_dir / BAD_FILE
    calls: list[str] = []

    def build(ref: str) -> str:  # an ETL re-run swaps the file between listing and reading, once
        if not calls:
            moved.rename(moved.with_name("run-20261128.parquet"))
        calls.append(ref)
        return f"SELECT COUNT(*) AS n FROM {ref}"

    with DuckDBBackend(data_dir) as backend:
        result = backend.run(AuditLogQuery(DAYS[0], DAYS[-1], SOURCES), build)
    assert result[0]["n"] == len([r for r in dataset[1] if r["source"] in SOURCES])
    assert result.unreadable == () and len(calls) == 2


def test_an_export_says_which_partitions_it_left_out(folders: tuple[Path, Path], tmp_path: Path) -> None:
    from audit_query.export import export

    client, oracle = _clients(folders)
    q = AuditLogQuery(DAYS[0], DAYS[-1], SOURCES)
    result = export(client, q, "jsonl", tmp_path / "out.jsonl", page_size=50)
    assert result.rows == oracle.count(q)
    assert _same_partitions(result.unreadable) == _same_partitions(EXPECTED)
    assert export(oracle, q, "jsonl", tmp_path / "ok.jsonl").unreadable == ()


@pytest.mark.parametrize("command", ["query", "export"])
def test_the_cli_warns_on_stderr_naming_the_partition_left_out(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    from auditlog.cli import main

    dates = ["--from", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat()]
    args = [command, "--data-dir", str(folders[0]), *dates]
    args += [a for s in SOURCES for a in ("--source", s)]
    args += ["--format", "jsonl"]
    args += ["--output", str(tmp_path / "x.jsonl")] if command == "export" else ["--all"]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 0
    assert f"could not read dt={BAD_DAY} source={BAD_SOURCE}" in err and str(folders[0]) not in err
