"""One run per arrival day across processes (issue 10 item 1): the day lock, per-attempt staging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from etl import layout, runlock
from etl.local import RunFailed, run_days, run_etl
from etl.runlock import RunLocked
from etl.settings import EtlSettings
from tests.etl.conftest import make_event, write_raw
from tests.etl.test_local_etl import files, quarantine, rows

DAY = date(2026, 11, 27)
REPO = Path(__file__).resolve().parents[2]
RUN_ONE_DAY = (
    "import sys; from datetime import date; from pathlib import Path; from etl.local import run_etl; "
    "run_etl(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]))"
)


def _day_of_events(data_dir: Path) -> None:
    events = [make_event(i, time=f"2026-11-2{6 + i % 2}T10:00:00.000Z") for i in range(300)]
    write_raw(data_dir, datetime(2026, 11, 27, 1), events[:150] + ["not json"], name="a.gz")
    write_raw(data_dir, datetime(2026, 11, 27, 5), events[150:], name="b.gz")


def _spawn(data_dir: Path, day: date, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_ONE_DAY, str(data_dir), day.isoformat()],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outputs(data_dir: Path) -> tuple[list[dict], list[dict], list[str], dict]:
    """Everything a reader sees of a run: rows, quarantine, the output files, the report's counts."""
    report = json.loads((data_dir / layout.report_key(DAY)).read_text())
    counts = {k: v for k, v in report.items() if k not in ("started_at", "finished_at")}
    # manifests/ grows by one per run by design (append-only); tests/etl/test_manifest.py checks it
    kept = [f for f in files(data_dir) if not f.startswith(("raw/", runlock.LOCKS_PREFIX, "manifests/"))]
    return rows(data_dir), quarantine(data_dir), kept, counts


def test_two_concurrent_runs_of_one_day_never_lose_it(tmp_path: Path) -> None:
    """Ten trials of two processes running the same day over a good run: the rows always equal a clean
    run's (on the old code the shared staging folder lost every file of the day in most trials)."""
    clean = tmp_path / "clean"
    _day_of_events(clean)
    run_etl(clean, DAY)
    expected = outputs(clean)
    assert len(expected[0]) == 300
    for trial in range(10):
        work = tmp_path / f"trial{trial}"
        _day_of_events(work)
        run_etl(work, DAY)
        procs = [_spawn(work, DAY) for _ in range(2)]
        results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
        assert [rc for rc, _ in results] == [0, 0], results
        assert outputs(work) == expected, f"trial {trial}"
        manifests = sorted(p.name for p in (work / "manifests").glob("*.json"))
        assert len(manifests) == 3, manifests  # the first run and both concurrent ones, none lost
        assert not (work / "analytics" / "_staging").exists()


def test_a_second_run_of_a_held_day_fails_naming_the_holder_and_changes_nothing(tmp_path: Path) -> None:
    _day_of_events(tmp_path)
    run_etl(tmp_path, DAY)
    before = outputs(tmp_path)
    raw_report = (tmp_path / layout.report_key(DAY)).read_bytes()
    owner = {"attempt": "run-20261127-holder", "pid": 4242, "started_at": "2026-11-27T06:00:00Z"}
    with runlock.hold(tmp_path, layout.run_id(DAY), 1.0, owner):
        started = time.monotonic()
        with pytest.raises(RunLocked, match=r"run-20261127-holder \(pid 4242") as exc:
            run_etl(tmp_path, DAY, settings=EtlSettings(lock_timeout_seconds=0.3))
        assert time.monotonic() - started >= 0.3
        assert "AUDITLOG_ETL_LOCK_TIMEOUT_SECONDS" in str(exc.value)
        # Through run_days (what `auditlog etl` calls) it is one failed day, not a crash.
        os.environ["AUDITLOG_ETL_LOCK_TIMEOUT_SECONDS"] = "0.1"
        try:
            with pytest.raises(RunFailed, match="2026-11-27: RunLocked"):
                run_days(tmp_path, [DAY])
        finally:
            del os.environ["AUDITLOG_ETL_LOCK_TIMEOUT_SECONDS"]
    assert outputs(tmp_path) == before
    assert (tmp_path / layout.report_key(DAY)).read_bytes() == raw_report


def test_runs_of_different_days_do_not_wait_for_each_other(tmp_path: Path) -> None:
    write_raw(tmp_path, datetime(2026, 11, 26, 3), [make_event(1, time="2026-11-26T01:00:00Z")])
    _day_of_events(tmp_path)
    with runlock.hold(tmp_path, layout.run_id(DAY), 1.0):
        report = run_etl(tmp_path, date(2026, 11, 26), settings=EtlSettings(lock_timeout_seconds=0))
    assert report.events_stored == 1


def test_stale_staging_of_a_killed_attempt_is_removed_by_the_next_run(tmp_path: Path) -> None:
    _day_of_events(tmp_path)
    staging = tmp_path / "analytics" / "_staging"
    stale = staging / "run-20261127-20261127T050000000000-999-1" / "analytics" / "auditlog" / "x.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file")
    other_day = staging / "run-20261126-20261126T050000000000-998-1"
    other_day.mkdir()
    run_etl(tmp_path, DAY)
    assert sorted(p.name for p in staging.iterdir()) == [other_day.name]  # another day's attempt is its own
