"""`auditlog etl` through the real dispatcher."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from auditlog.cli import main
from tests.etl.conftest import make_event, write_raw


def test_etl_shows_progress_then_a_summary_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_raw(tmp_path, datetime(2026, 11, 26, 4), [make_event(1)])
    write_raw(tmp_path, datetime(2026, 11, 27, 4), [make_event(2), make_event(2), "bad", '{"detail": {}}'])
    assert main(["etl", "--data-dir", str(tmp_path), "--all"]) == 0
    out, err = capsys.readouterr()
    # not a terminal here: plain progress lines on stderr, a plain table on stdout, no JSON wall
    assert "etl: 50% (1/2 days)" in err and "etl: 100% (2/2 days)" in err
    lines = out.splitlines()
    assert lines[0] == "ETL runs"
    assert lines[1].split() == [
        "day",
        "events",
        "in",
        "rows",
        "out",
        "duplicates",
        "late",
        "rows",
        "seconds",
        "quarantined",
        "quarantine",
        "reasons",
    ]
    row = lines[3].split()
    assert row[:5] == ["2026-11-27", "4", "1", "1", "0"]  # events in, rows out, one duplicate, no late rows
    assert row[6:] == ["2", "invalid_json", "1,", "no_entities", "1"]
    assert not any(line.startswith("{") for line in lines)
    assert lines[-1] == f"reports: {tmp_path / 'reports'}"


def test_etl_json_prints_each_report_line_and_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_raw(tmp_path, datetime(2026, 11, 27, 4), [make_event(1), "bad"])
    assert main(["etl", "--data-dir", str(tmp_path), "--date", "2026-11-27", "--json"]) == 0
    out, err = capsys.readouterr()
    report_line, path_line = out.strip().splitlines()
    report = json.loads(report_line)
    assert (report["run_id"], report["events_stored"], report["quarantined"]) == ("run-20261127", 1, 1)
    assert path_line == f"report: {tmp_path / 'reports/run-20261127.json'}"


def test_etl_all_runs_every_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_raw(tmp_path, datetime(2026, 11, 26, 4), [make_event(1)])
    write_raw(tmp_path, datetime(2026, 11, 27, 4), [make_event(2)])
    assert main(["etl", "--data-dir", str(tmp_path), "--all", "--json"]) == 0
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


def test_a_day_failing_in_the_engine_does_not_stop_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One poison day must not block the pipeline: the other days run, the failure is one line, exit 1."""
    import duckdb

    from etl import local

    for day in (25, 26, 27):
        write_raw(tmp_path, datetime(2026, 11, day, 4), [make_event(day)])
    real = local.run_etl

    def run_etl(data_dir: Path, day: date, **kw: object) -> object:
        if day.day == 26:
            raise duckdb.ConversionException("Could not convert Timestamp to higher precision")
        return real(data_dir, day, **kw)

    monkeypatch.setattr(local, "run_etl", run_etl)
    assert main(["etl", "--data-dir", str(tmp_path), "--all"]) == 1
    out, err = capsys.readouterr()
    days = [line.split()[0] for line in out.splitlines() if line.startswith("2026-")]
    assert days == ["2026-11-25", "2026-11-27"]  # the table lists the days that ran
    assert "2026-11-26: ConversionException: Could not convert" in err and "Traceback" not in err
    reports = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert reports == ["run-20261125.json", "run-20261127.json"]
    assert main(["etl", "--data-dir", str(tmp_path), "--date", "2026-11-26"]) == 1
    assert "1 arrival day(s) failed" in capsys.readouterr().err
