"""`auditlog etl --watch` (issue 12, item 1): a real loop over a temp folder, driven with a small interval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from etl import layout
from etl.errors import ConfigurationError
from etl.settings import EtlSettings
from etl.watch import Watcher, pending_objects
from tests.etl.conftest import make_event, write_raw

REPO = Path(__file__).resolve().parents[2]
FAST = EtlSettings(watch_interval_seconds=0.05)


def _wait_for(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll `check` until it holds; fail naming `what` after `limit` seconds (a bound, not a timing
    assert)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def _stored(data_dir: Path, day: date) -> int:
    path = data_dir / layout.report_key(day)
    try:
        return int(json.loads(path.read_text())["events_stored"])
    except (OSError, ValueError):
        return -1


def _done(data_dir: Path, day: date, events: int) -> bool:
    """The day's report says `events` stored and its manifest (written last) covers every object."""
    return _stored(data_dir, day) == events and not pending_objects(data_dir, day)


def test_the_loop_processes_today_as_objects_land_and_stops_cleanly(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    today = now.date()
    stop = threading.Event()
    watcher = Watcher(tmp_path, settings=FAST, stop=stop)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        write_raw(tmp_path, now, [make_event(1)], name="a.json.gz")
        _wait_for(lambda: _done(tmp_path, today, 1), "the first object to be stored")
        write_raw(tmp_path, now, [make_event(2), make_event(3)], name="b.json.gz")
        _wait_for(lambda: _done(tmp_path, today, 3), "the second object to be stored")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    runs = watcher.runs
    time.sleep(0.3)  # stopped: nothing more runs (a count, not a timing assert)
    assert watcher.runs == runs
    # Idle rounds do not re-run a day nobody wrote to: one run per object landing (at most one extra when an
    # object landed between a listing and a run).
    assert 2 <= runs <= 3


def test_waiting_is_what_the_newest_run_did_not_read_not_what_is_older(tmp_path: Path) -> None:
    """An object that landed while a run was reading has an older mtime than the report but was not read: it
    still waits (the manifest's inputs decide, not clocks)."""
    day = date(2026, 11, 27)
    write_raw(tmp_path, datetime(2026, 11, 27, 4), [make_event(1)], name="a.json.gz")
    from etl.local import run_etl

    run_etl(tmp_path, day)
    assert pending_objects(tmp_path, day) == []
    late = write_raw(tmp_path, datetime(2026, 11, 27, 4), [make_event(2)], name="b.json.gz")
    old = time.time() - 3600
    os.utime(late, (old, old))
    assert pending_objects(tmp_path, day) == [late]


def test_a_finished_day_runs_once_more_after_midnight(tmp_path: Path) -> None:
    moments = iter(
        [
            datetime(2026, 11, 27, 23, 59, 50, tzinfo=UTC),
            datetime(2026, 11, 28, 0, 0, 5, tzinfo=UTC),
            datetime(2026, 11, 28, 0, 0, 10, tzinfo=UTC),
        ]
    )
    watcher = Watcher(tmp_path, settings=FAST, clock=lambda: next(moments))
    write_raw(tmp_path, datetime(2026, 11, 27, 23, 59), [make_event(1)], name="a.json.gz")
    assert watcher.tick() == [date(2026, 11, 27)]
    # The last buffer of the day lands just after the run (Firehose names it by its first record's arrival).
    write_raw(tmp_path, datetime(2026, 11, 27, 23, 59), [make_event(2)], name="b.json.gz")
    assert watcher.tick() == [date(2026, 11, 27)]
    assert _stored(tmp_path, date(2026, 11, 27)) == 2
    assert watcher.tick() == []  # nothing waiting, the finished day already had its run after midnight


def test_a_failed_run_is_retried_on_the_next_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl import watch

    day = datetime(2026, 11, 27, 10, tzinfo=UTC)
    write_raw(tmp_path, day, [make_event(1)])
    errors: list[str] = []
    real = watch.run_etl
    calls = iter([RuntimeError("disk full"), None])

    def flaky(*args: object, **kwargs: object) -> object:
        failure = next(calls)
        if failure is not None:
            raise failure
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(watch, "run_etl", flaky)
    watcher = Watcher(tmp_path, settings=FAST, clock=lambda: day, on_error=lambda d, e: errors.append(str(e)))
    assert watcher.tick() == []
    assert errors == ["disk full"]
    assert watcher.tick() == [day.date()]


def test_a_non_positive_interval_is_refused_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="AUDITLOG_ETL_WATCH_INTERVAL_SECONDS"):
        Watcher(tmp_path, settings=EtlSettings(watch_interval_seconds=0))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_command_stops_cleanly_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    now = datetime.now(UTC)
    write_raw(tmp_path, now, [make_event(1)])
    env = {**os.environ, "PYTHONPATH": str(REPO), "AUDITLOG_ETL_WATCH_INTERVAL_SECONDS": "0.1"}
    code = "import sys; from auditlog.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "etl", "--watch", "--data-dir", str(tmp_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first_run = lambda: _done(tmp_path, now.date(), 1) or proc.poll() is not None  # noqa: E731
        _wait_for(first_run, "the watcher's first run")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            print(proc.communicate()[1])
    assert proc.returncode == 0, err
    assert "stopped after 1 run(s)" in err
    run = f"run-{now.date():%Y%m%d}"
    assert out.splitlines()[0].startswith(f"{run}: 1 event in, 1 row out, 0 quarantined")
