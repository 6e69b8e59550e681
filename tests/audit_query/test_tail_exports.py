"""The not-yet-processed tail in exports and on the command line (issue 12, item 2: "included in counts and
exports (marked)"): every row once, the tail's rows marked NotYetProcessed, counted in the export result, on
stderr and in the signed export manifest; after a run the same rows come back as processed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from audit_query import AuditLogClient, AuditLogQuery
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.export import export
from auditlog.cli import main
from etl.local import run_etl
from etl.signing import Ed25519Signer
from tests.etl.conftest import make_event, write_raw

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
DAY = NOW.date()  # today: the tail covers yesterday's and today's arrivals


def _events(data_dir: Path, names: str, first: int) -> None:
    for i, name in enumerate(names):
        n = first + i
        event = make_event(n, time=f"{DAY:%Y-%m-%d}T00:{n:02d}:00.000Z")
        write_raw(data_dir, NOW, [event], name=f"{name}.json.gz")


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    """Two stored events (ev-1, ev-2) and two waiting for a run (ev-3, ev-4)."""
    _events(tmp_path, "ab", 1)
    run_etl(tmp_path, DAY)
    _events(tmp_path, "cd", 3)
    return tmp_path


def _marks(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {r["Id"]: r["NotYetProcessed"] for r in rows}


def test_exports_include_the_tail_marked_and_counted(data: Path) -> None:
    q = AuditLogQuery(DAY, DAY, ("shop.orders",), limit=1)  # one row a page: the tail and stored rows mix
    with DuckDBBackend(data, serve_tail=True) as backend:
        client = AuditLogClient(backend)
        out = io.BytesIO()
        result = export(client, q, "csv", out)
        rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8"))))
        assert _marks(rows) == {"ev-4:0": "true", "ev-3:0": "true", "ev-2:0": "false", "ev-1:0": "false"}
        assert (result.rows, result.not_yet_processed) == (4, 2)

        jsonl = io.BytesIO()
        export(client, q, "jsonl", jsonl)
        lines = [json.loads(line) for line in jsonl.getvalue().decode("utf-8").splitlines()]
        assert _marks(lines) == {"ev-4:0": True, "ev-3:0": True, "ev-2:0": False, "ev-1:0": False}

        parquet = data / "view.parquet"
        export(client, q, "parquet", parquet)
        assert _marks(pq.read_table(parquet).to_pylist()) == _marks(lines)

        run_etl(data, DAY)  # the run stores the tail: same rows, now processed, none twice
        again = io.BytesIO()
        after = export(client, q, "csv", again)
        rows = list(csv.DictReader(io.StringIO(again.getvalue().decode("utf-8"))))
        assert _marks(rows) == {"ev-4:0": "false", "ev-3:0": "false", "ev-2:0": "false", "ev-1:0": "false"}
        assert (after.rows, after.not_yet_processed) == (4, 0)


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_auditlog_query_includes_and_marks_the_tail(data: Path, capsys: Any) -> None:
    day = f"{DAY:%Y-%m-%d}"
    args = ("query", "--data-dir", str(data), "--from", day, "--to", day, "--source", "shop.orders")
    code, out, err = _run(capsys, *args, "--format", "jsonl", "--all", "--limit", "3")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert _marks(lines) == {"ev-4:0": True, "ev-3:0": True, "ev-2:0": False, "ev-1:0": False}
    assert "2 of these rows are not yet processed" in err

    code, out, err = _run(capsys, *args)
    table = out.splitlines()
    assert table[0].split()[-1] == "NotYetProcessed"
    marked = {line.split()[1]: line.rstrip().endswith("  yes") for line in table[2:]}
    assert marked == {"ev-4:0": True, "ev-3:0": True, "ev-2:0": False, "ev-1:0": False}


def test_auditlog_export_counts_the_tail_in_its_signed_manifest(
    data: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITLOG_SIGNING_KEY", str(data / "key.pem"))
    day = f"{DAY:%Y-%m-%d}"
    output = data / "view.csv"
    code, _, err = _run(
        capsys, "export", "--data-dir", str(data), "--from", day, "--to", day, "--source", "shop.orders",
        "--format", "csv", "--output", str(output), "--manifest",
    )
    assert code == 0, err
    assert "4 rows ->" in err and "2 of them not yet processed" in err
    body = json.loads((data / "view.csv.manifest.json").read_text(encoding="utf-8"))["manifest"]
    assert (body["rows"], body["not_yet_processed"]) == (4, 2)
    public = data / "key.pub.pem"
    public.write_bytes(Ed25519Signer.load_or_create(data / "key.pem").public_pem)
    code, out, err = _run(
        capsys, "verify-export", str(output), "--data-dir", str(data), "--public-key", str(public)
    )
    assert code == 0, out + err
