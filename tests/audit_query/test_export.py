"""Export of a whole filtered view to CSV, JSON Lines and Parquet, on real Parquet fixtures with DuckDB:
every row of the view across several pages, formula injection neutralised in CSV only, progress, caps."""

from __future__ import annotations

import csv
import io
import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from audit_query import AuditLogClient, AuditLogQuery, AuditRecord, BackendError
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.cli import query_from_args
from audit_query.export import (
    EXPORT_COLUMNS,
    ExportTooLarge,
    export,
    export_bytes,
    export_schema,
    timestamp_iso,
)
from auditlog.cli import build_parser

from .conftest import DAYS, HOSTILE_SOURCE, SETTINGS, SOURCES, make_row, write_rows

VIEW = AuditLogQuery(DAYS[0], DAYS[-1], (*SOURCES, HOSTILE_SOURCE), actions=["Update", "Create", "Delete"])
FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+2", "-3", "@SUM(A1)", "\tTAB", "\rCR", "a=b", "'quoted"]


def expected_ids(rows: list[dict[str, Any]], q: AuditLogQuery) -> list[str]:
    """The oracle: ids of the fixture rows in the view, newest first (Timestamp DESC, Id DESC)."""
    keep = [
        r
        for r in rows
        if q.date_from.isoformat() <= r["dt"] <= q.date_to.isoformat()
        and r["source"] in q.sources
        and r["Action"] in {a.value for a in q.actions}
    ]
    keep.sort(key=lambda r: (r["Timestamp"], r["Id"]), reverse=True)
    return [r["Id"] for r in keep]


def all_records(client: AuditLogClient, q: AuditLogQuery) -> list[AuditRecord]:
    return [r for page in client.iter_pages(q) for r in page.rows]


def plain(record: AuditRecord) -> dict[str, Any]:
    d = record.to_dict()
    d["Timestamp"] = timestamp_iso(d["Timestamp"])
    return d


def sheet_safe(value: Any) -> str:
    """The OWASP rule, restated independently: text starting with = + - @ TAB CR gets a leading quote."""
    if value is None:
        return ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else str(value)


def test_csv_holds_every_row_of_the_view_across_pages(
    client: AuditLogClient, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    calls: list[tuple[int, int | None]] = []
    out = tmp_path / "view.csv"
    result = export(client, VIEW, "csv", out, page_size=37, progress=lambda d, t: calls.append((d, t)))

    ids = expected_ids(rows, VIEW)
    assert len(ids) > 3 * 37  # several pages
    with out.open(newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    assert table[0] == list(EXPORT_COLUMNS)
    assert [r[0] for r in table[1:]] == ids
    assert (result.rows, result.format, result.path) == (len(ids), "csv", out)
    assert result.bytes_written == out.stat().st_size
    records = all_records(client, VIEW)
    for cells, rec in zip(table[1:], records, strict=True):
        assert cells == [*(sheet_safe(v) for v in plain(rec).values()), "false"]  # stored: processed
    # progress: the total first, then after every page, ending at the total
    assert calls[0] == (0, len(ids)) and calls[-1] == (len(ids), len(ids))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len(calls) == -(-len(ids) // 37) + 1
    assert not list(tmp_path.glob("*.partial"))


def test_jsonl_is_one_object_per_row_with_iso_utc_timestamps(client: AuditLogClient) -> None:
    buffer = io.BytesIO()
    result = export(client, VIEW, "jsonl", buffer, page_size=50)
    assert not buffer.closed and result.path is None
    lines = buffer.getvalue().decode("utf-8").splitlines()
    records = all_records(client, VIEW)
    assert [json.loads(line) for line in lines] == [{**plain(r), "NotYetProcessed": False} for r in records]
    assert json.loads(lines[0])["Timestamp"].endswith("Z") and len(json.loads(lines[0])["Timestamp"]) == 24
    assert result.rows == len(records) and result.bytes_written == len(buffer.getvalue())


def test_parquet_writes_a_row_group_per_page_with_the_table_schema(
    client: AuditLogClient, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "view.parquet"
    result = export(client, VIEW, "parquet", out, page_size=60)
    f = pq.ParquetFile(out)
    assert f.schema_arrow == export_schema()
    n = len(expected_ids(rows, VIEW))
    assert f.metadata.num_row_groups == -(-n // 60) and result.rows == n
    got = f.read().to_pylist()
    want = [r.to_dict() for r in all_records(client, VIEW)]
    for row in want:
        row["Timestamp"] = row["Timestamp"].astimezone(UTC).replace(tzinfo=None)
        row["NotYetProcessed"] = False
    assert got == want


def test_the_default_page_is_the_largest_and_cursor_and_limit_are_ignored(
    client: AuditLogClient, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    first = client.query(VIEW.first_query())
    later = VIEW.next_query(first)
    assert later is not None
    out = tmp_path / "all.parquet"
    export(client, later, "parquet", out)
    f = pq.ParquetFile(out)
    assert f.metadata.num_row_groups == 1 and f.metadata.num_rows == len(expected_ids(rows, VIEW))


@pytest.fixture(scope="module")
def formula_client(tmp_path_factory: pytest.TempPathFactory) -> AuditLogClient:
    data = tmp_path_factory.mktemp("formulas")
    base = datetime(2026, 11, 26, 10)
    write_rows(
        data,
        [
            make_row(
                f"f{i}:0", base.replace(second=i), "sheet", ActorName=v, EntityId=v, After=v, Action="Update"
            )
            for i, v in enumerate(FORMULAS)
        ],
    )
    backend = DuckDBBackend(data)
    yield AuditLogClient(backend, SETTINGS)
    backend.close()


FORMULA_VIEW = AuditLogQuery("2026-11-26", "2026-11-26", ("sheet",))


def test_csv_neutralises_spreadsheet_formulas_and_other_formats_keep_values(formula_client: Any) -> None:
    text = export_bytes(formula_client, FORMULA_VIEW, "csv", max_rows=100).decode("utf-8")
    table = list(csv.DictReader(io.StringIO(text, newline="")))
    by_id = {r["Id"]: r for r in table}
    for i, v in enumerate(FORMULAS):
        cell = by_id[f"f{i}:0"]
        want = v if v[0] not in "=+-@\t\r" else "'" + v
        assert cell["ActorName"] == cell["EntityId"] == cell["After"] == want
    assert by_id["f6:0"]["ActorName"] == "a=b" and by_id["f7:0"]["ActorName"] == "'quoted"

    lines = export_bytes(formula_client, FORMULA_VIEW, "jsonl", max_rows=100).decode("utf-8").splitlines()
    assert sorted(json.loads(line)["ActorName"] for line in lines) == sorted(FORMULAS)
    data = pq.read_table(io.BytesIO(export_bytes(formula_client, FORMULA_VIEW, "parquet", max_rows=100)))
    assert sorted(data.column("After").to_pylist()) == sorted(FORMULAS)


def test_export_bytes_refuses_a_view_over_the_cap_and_names_the_command(client: AuditLogClient) -> None:
    n = client.count(VIEW)
    with pytest.raises(ExportTooLarge) as info:
        export_bytes(client, VIEW, "csv", max_rows=n - 1)
    err = info.value
    assert isinstance(err, ValueError) and (err.count, err.max_rows) == (n, n - 1)
    assert "auditlog export" in str(err) and err.command in str(err)
    # the suggested command describes exactly the same view
    args = build_parser().parse_args(shlex.split(err.command)[1:])
    assert query_from_args(args).filters() == VIEW.filters()
    assert args.format == "csv"
    assert len(export_bytes(client, VIEW, "csv", max_rows=n).decode().splitlines()) == n + 1


def test_a_failed_export_leaves_no_file(client: AuditLogClient, tmp_path: Path, monkeypatch: Any) -> None:
    real = client.iter_pages

    def failing(q: AuditLogQuery) -> Any:
        pages = real(q)
        yield next(pages)
        raise BackendError("the engine went away")

    monkeypatch.setattr(client, "iter_pages", failing)
    out = tmp_path / "broken.csv"
    with pytest.raises(BackendError, match="went away"):
        export(client, VIEW, "csv", out, page_size=10)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_format_or_query_is_a_validation_error(client: AuditLogClient, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        export(client, VIEW, "xlsx", tmp_path / "x")
    with pytest.raises(ValueError, match="date_to"):
        export(client, AuditLogQuery("2026-11-26", "2026-11-20", ("billing",)), "csv", tmp_path / "x.csv")
    assert list(tmp_path.iterdir()) == []


class GrowingClient(AuditLogClient):
    """A client over a view that grows right after it is counted: ETL runs land newer rows meanwhile."""

    def __init__(self, backend: DuckDBBackend, data_dir: Path, extra: list[dict[str, Any]]) -> None:
        super().__init__(backend, SETTINGS)
        self.data_dir, self.extra = data_dir, extra

    def count(self, q: AuditLogQuery) -> Any:
        n = super().count(q)
        if self.extra:
            write_rows(self.data_dir, self.extra, run_id="run-20261128")
            self.extra = []
        return n


def test_export_stops_at_the_cap_when_the_view_grows_after_the_count(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    base = datetime(2026, 11, 26, 10)
    old = [make_row(f"old{i:03d}:0", base.replace(minute=i), "grow", Action="Update") for i in range(50)]
    later = base.replace(hour=11)
    new = [make_row(f"new{i:03d}:0", later.replace(minute=i), "grow", Action="Update") for i in range(30)]
    write_rows(data_dir, old)
    view = AuditLogQuery("2026-11-26", "2026-11-26", ("grow",))
    with DuckDBBackend(data_dir) as backend:
        client = GrowingClient(backend, data_dir, new)
        calls: list[tuple[int, int | None]] = []
        out = io.BytesIO()
        result = export(
            client, view, "jsonl", out, max_rows=50, page_size=20, progress=lambda d, t: calls.append((d, t))
        )
        assert client.count(view) == 80  # the view did grow
    got = [json.loads(line)["Id"] for line in out.getvalue().decode().splitlines()]
    newest = sorted((r["Timestamp"], r["Id"]) for r in old + new)[::-1][:50]
    assert got == [i for _, i in newest] and result.rows == 50  # the 50 newest rows of the grown view
    assert calls == [(0, 50), (20, 50), (40, 50), (50, 50)]  # and no page is read past the cap
