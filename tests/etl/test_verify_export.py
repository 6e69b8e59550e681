"""`auditlog export --manifest` writes a signed sidecar; `auditlog verify-export` checks it (real ETL output,
DuckDB backend): a clean export verifies, a changed export or sidecar is named."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from pathlib import Path

import pytest
import rfc8785

from audit_query.export_manifest import sidecar_path
from auditlog.cli import main
from etl.local import run_etl
from etl.manifest import LocalTree, latest_manifests, signed_message
from etl.signing import Ed25519Signer
from tests.etl.conftest import make_event, write_raw

DAYS = [date(2026, 11, 26), date(2026, 11, 27)]


@pytest.fixture
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """Two ETL runs, then a CSV export of 2026-11-27 with its manifest; returns the export file."""
    monkeypatch.setenv("AUDITLOG_SIGNING_KEY", str(tmp_path / "key.pem"))
    data = tmp_path / "data"
    for i, day in enumerate(DAYS):
        events = [make_event(10 * i + n, time=f"{day}T0{n}:00:00.000Z") for n in range(5)]
        write_raw(data, datetime(day.year, day.month, day.day, 10), events)
        run_etl(data, day)
    out = tmp_path / "out" / "orders.csv"
    out.parent.mkdir()
    args = [
        "export",
        "--data-dir",
        str(data),
        "--from",
        "2026-11-27",
        "--format",
        "csv",
        "--output",
        str(out),
    ]
    assert main([*args, "--manifest"]) == 0
    assert "manifest -> " in capsys.readouterr().err
    return out


def data_of(exported: Path) -> Path:
    return exported.parents[1] / "data"


def verify(exported: Path, *extra: str) -> int:
    return main(["verify-export", str(exported), "--data-dir", str(data_of(exported)), *extra])


def test_an_export_manifest_names_file_filters_user_and_run_manifests(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(sidecar_path(exported).read_text())
    body = doc["manifest"]
    assert (body["file"], body["rows"], body["export_format"]) == ("orders.csv", 5, "csv")
    assert body["filters"]["date_from"] == body["filters"]["date_to"] == "2026-11-27"
    assert body["command"].startswith("auditlog export --data-dir ") and "--format csv" in body["command"]
    assert body["user"] and body["created_at"].endswith("Z")
    chain = latest_manifests(LocalTree(data_of(exported)))
    assert [m["key"] for m in body["run_manifests"]] == [chain[1][0]], "only the run that wrote 2026-11-27"
    assert body["chain_head"]["key"] == chain[-1][0]
    assert verify(exported) == 0
    assert "OK: " in capsys.readouterr().out


def test_a_changed_export_is_named(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exported.write_text(exported.read_text().replace("alice", "mallory", 1))
    assert verify(exported) == 1
    assert f"PROBLEM {exported}: changed" in capsys.readouterr().out


def test_a_changed_sidecar_is_named(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    side = sidecar_path(exported)
    doc = json.loads(side.read_text())
    doc["manifest"]["user"] = "somebody-else"
    side.write_bytes(rfc8785.dumps(doc))
    assert verify(exported) == 1
    assert f"PROBLEM {side}: signature does not match" in capsys.readouterr().out


def test_a_sidecar_resigned_with_another_key_is_named(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    side = sidecar_path(exported)
    doc = json.loads(side.read_text())
    other = Ed25519Signer.load_or_create(tmp_path / "other.pem")
    doc["manifest"]["signer"] = {"key_id": other.key_id, "algorithm": other.algorithm}
    doc["manifest"]["public_key"] = other.public_pem.decode()
    doc["signature"] = base64.b64encode(other.sign(signed_message(doc["manifest"]))).decode()
    side.write_bytes(rfc8785.dumps(doc))
    assert verify(exported) == 1
    assert "signed by an unknown key" in capsys.readouterr().out


def test_a_truncated_sidecar_is_reported_not_a_traceback(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    side = sidecar_path(exported)
    side.write_bytes(side.read_bytes()[:40])
    assert verify(exported) == 1
    assert f"PROBLEM {side}: unreadable or truncated" in capsys.readouterr().out


def test_a_changed_run_manifest_behind_the_export_is_named(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = data_of(exported)
    key = latest_manifests(LocalTree(data))[1][0]
    (data / key).chmod(0o644)
    (data / key).write_bytes((data / key).read_bytes() + b" ")
    assert verify(exported) == 1
    assert "run manifest changed since the export" in capsys.readouterr().out


def test_the_recipient_verifies_with_only_the_public_key(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pub = tmp_path / "auditlog.pub.pem"
    pub.write_bytes(Ed25519Signer.load_or_create(tmp_path / "key.pem").public_pem)
    empty = tmp_path / "nothing-here"
    args = ["verify-export", str(exported), "--public-key", str(pub), "--data-dir", str(empty)]
    assert main(args) == 0
    assert main(["verify-export", str(exported), "--data-dir", str(empty)]) == 1, "no trusted key: unknown"
