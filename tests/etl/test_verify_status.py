"""The last verification's status file (etl/verify.py): where it lives, what it says, and that a broken or
foreign file reads as no status (the explorer then shows no warning rather than failing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from etl.verify import Problem, VerifyResult, VerifySettings, read_status, status_of, write_status


def test_the_status_names_each_problems_partition_and_day(tmp_path: Path) -> None:
    result = VerifyResult(
        problems=[
            Problem(
                "missing",
                str(tmp_path / "analytics/auditlog/dt=2026-11-26/source=shop.orders/run-20261127.parquet"),
                "listed by manifests/000002-run-20261127.json but not found",
            ),
            Problem("chain", str(tmp_path / "manifests/000003-run-20261128.json"), "does not chain"),
        ],
        manifests=3,
    )
    path = tmp_path / "verify-status.json"
    write_status(path, status_of(result, datetime(2026, 11, 28, 6, 0, tzinfo=UTC)))
    status = read_status(path)
    assert status is not None and status["ok"] is False and status["checked_at"] == "2026-11-28T06:00:00Z"
    first, second = status["problems"]
    assert (first["dt"], first["source"], first["day"]) == ("2026-11-26", "shop.orders", "2026-11-27")
    assert (second["kind"], second["dt"], second["source"]) == ("chain", None, None)


def test_where_the_status_file_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    default = VerifySettings()
    assert default.status_path(tmp_path / "data") == tmp_path / "data" / "verify-status.json"
    assert default.status_path(f"file://{tmp_path}/data") == tmp_path / "data" / "verify-status.json"
    on_s3 = default.status_path("s3://analytics-bucket/")
    assert on_s3.parent == tmp_path / "cache" / "auditlog", "outside the locked bucket"
    assert on_s3 == default.status_path("s3://analytics-bucket") != default.status_path("s3://other/")
    chosen = VerifySettings.from_env({"AUDITLOG_VERIFY_STATUS": str(tmp_path / "s.json")})
    assert chosen.status_path("s3://analytics-bucket/") == tmp_path / "s.json"


@pytest.mark.parametrize("text", ["", "{not json", '{"format": "something-else", "problems": []}', "[]"])
def test_a_broken_or_foreign_status_file_reads_as_none(tmp_path: Path, text: str) -> None:
    path = tmp_path / "verify-status.json"
    path.write_text(text, encoding="utf-8")
    assert read_status(path) is None
    assert read_status(tmp_path / "absent.json") is None
