"""`auditlog etl` through the real dispatcher."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from auditlog.cli import main
from tests.etl.conftest import make_event, write_raw


def test_etl_one_day_prints_report_and_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_raw(tmp_path, datetime(2026, 11, 27, 4), [make_event(1), "bad"])
    assert main(["etl", "--data-dir", str(tmp_path), "--date", "2026-11-27"]) == 0
    out, err = capsys.readouterr()
    report_line, path_line = out.strip().splitlines()
    report = json.loads(report_line)
    assert (report["run_id"], report["events_stored"], report["quarantined"]) == ("run-20261127", 1, 1)
    assert path_line == f"report: {tmp_path / 'reports/run-20261127.json'}"
    assert "parse" in err and "write" in err


def test_etl_all_runs_every_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_raw(tmp_path, datetime(2026, 11, 26, 4), [make_event(1)])
    write_raw(tmp_path, datetime(2026, 11, 27, 4), [make_event(2)])
    assert main(["etl", "--data-dir", str(tmp_path), "--all"]) == 0
    lines = capsys.readouterr().out.splitlines()
    runs = [json.loads(line)["run_id"] for line in lines if line.startswith("{")]
    assert runs == ["run-20261126", "run-20261127"]


@pytest.mark.parametrize("which", [["--all"], ["--date", "2026-11-27"]])
def test_etl_without_raw_data_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: list[str]
) -> None:
    assert main(["etl", "--data-dir", str(tmp_path), *which]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditlog etl: error: no raw .gz objects") and str(tmp_path) in err


def test_etl_rejects_a_bad_date(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["etl", "--data-dir", str(tmp_path), "--date", "27/11/2026"])
    assert exc.value.code == 2
