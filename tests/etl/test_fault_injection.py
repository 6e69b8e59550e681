"""Fault injection (issue 10 item 7). Each test ends the same way: a rerun gives rows identical to a clean
run, and nothing outside analytics/, reports/ and quarantine/ changed (no staging left behind either)."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl import layout, local
from etl.local import run_etl
from etl.settings import EtlSettings
from tests.etl.conftest import make_event, write_raw
from tests.etl.test_local_etl import quarantine, rows

DAY = date(2026, 11, 27)
REPO = Path(__file__).resolve().parents[2]
_REAL_WRITE_TABLE = pq.write_table
OWNED = ("analytics/", layout.REPORTS_PREFIX, layout.QUARANTINE_PREFIX)


def _raw_day(data_dir: Path) -> None:
    """Two sources, a late event, a bad line: several partition files, a quarantine and an index."""
    events = [make_event(i, source=("a.svc", "b.svc")[i % 2]) for i in range(200)]
    events.append(make_event(999, time="2026-11-26T23:00:00Z"))
    write_raw(data_dir, datetime(2026, 11, 27, 1), [*events[:100], "not json"], name="a.gz")
    write_raw(data_dir, datetime(2026, 11, 27, 6), events[100:], name="b.gz")
    # another day's run in the same data folder must not be touched either
    other = [make_event(500, time="2026-11-26T03:00:00Z")]
    write_raw(data_dir, datetime(2026, 11, 26, 4), other, name="c.gz")


def _outside(data_dir: Path) -> dict[str, str]:
    """sha256 of every file outside the run's own folders, plus the other day's outputs."""
    out = {}
    for p in sorted(data_dir.rglob("*")):
        rel = p.relative_to(data_dir).as_posix()
        if p.is_file() and (not rel.startswith(OWNED) or "run-20261126" in rel):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_only_appended(before: dict[str, str], after: dict[str, str]) -> None:
    """Nothing outside the run's own folders changed; only new run manifests were appended (manifests/ is
    append-only: a re-run adds a manifest naming the one it supersedes)."""
    changed = {k for k in before if after.get(k) != before[k]}
    added = {k for k in after if k not in before and not k.startswith("manifests/")}
    assert not changed and not added, (sorted(changed), sorted(added))


def _view(data_dir: Path) -> tuple[list[dict], list[dict], dict]:
    report = json.loads((data_dir / layout.report_key(DAY)).read_text())
    counts = {k: v for k, v in report.items() if k not in ("started_at", "finished_at")}
    return rows(data_dir), quarantine(data_dir), counts


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[dict], dict]:
    """What a clean run of the day gives (rows, quarantine, report counts)."""
    folder = tmp_path_factory.mktemp("clean")
    _raw_day(folder)
    run_etl(folder, date(2026, 11, 26))
    run_etl(folder, DAY)
    return _view(folder)


@pytest.fixture
def day_with_a_good_run(tmp_path: Path) -> Iterator[Path]:
    _raw_day(tmp_path)
    run_etl(tmp_path, date(2026, 11, 26))
    run_etl(tmp_path, DAY)
    yield tmp_path


def _rerun_matches_clean(data_dir: Path, clean: tuple, before: dict[str, str]) -> None:
    run_etl(data_dir, DAY)
    assert _view(data_dir) == clean
    assert_only_appended(before, _outside(data_dir))
    assert not (data_dir / "analytics" / "_staging").exists()
    assert not list(data_dir.rglob(".*.tmp"))


# kill -9 inside the run, at several points: each patch kills the process the first time it is reached.
KILL_POINTS = {
    "after_read": "local._classify = die_before(local._classify)",
    "first_file_staged": "local.pq.write_table = die_after(local.pq.write_table)",
    "old_files_deleted": "local.os.replace = die_before(local.os.replace)",
    "files_swapped": "local.shutil.rmtree = die_before_nth(local.shutil.rmtree, 0)",
    "before_report": "local._write_quarantine = die_before(local._write_quarantine)",
}
_KILL_CHILD = """
import os, signal, sys
from datetime import date
from pathlib import Path
from etl import local
def die(): os.kill(os.getpid(), signal.SIGKILL)
def die_before(f):
    def g(*a, **k): die()
    return g
def die_after(f):
    def g(*a, **k): f(*a, **k); die()
    return g
def die_before_nth(f, n):
    calls = []
    def g(*a, **k):
        calls.append(1)
        if len(calls) > n: die()
        return f(*a, **k)
    return g
{patch}
local.run_etl(Path(sys.argv[1]), date(2026, 11, 27))
"""


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_9_anywhere_in_a_run_then_a_rerun_restores_the_day(
    day_with_a_good_run: Path, clean: tuple, point: str
) -> None:
    data_dir = day_with_a_good_run
    before = _outside(data_dir)
    child = subprocess.run(
        [sys.executable, "-c", _KILL_CHILD.replace("{patch}", KILL_POINTS[point]), str(data_dir)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    _rerun_matches_clean(data_dir, clean, before)


def test_two_concurrent_runs_then_a_rerun_matches_a_clean_run(
    day_with_a_good_run: Path, clean: tuple
) -> None:
    """(The ten-trial version is tests/etl/test_run_lock.py; this one also checks the folders outside.)"""
    data_dir = day_with_a_good_run
    before = _outside(data_dir)
    code = _KILL_CHILD.replace("{patch}", "")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", code, str(data_dir)]
    procs = [subprocess.Popen(cmd, cwd=REPO, env=env) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert _view(data_dir) == clean
    _rerun_matches_clean(data_dir, clean, before)


class _Disk:
    """A disk with `free` bytes left: every Parquet write draws on it and fails with ENOSPC past it."""

    def __init__(self, free: int) -> None:
        self.free = free

    def write_table(self, table, where, **kwargs) -> None:  # noqa: ANN001
        disk = self

        class Limited:
            def __init__(self) -> None:
                self.f = open(where, "wb")  # noqa: SIM115
                self.closed = False

            def write(self, data) -> int:  # noqa: ANN001
                if len(data) > disk.free:
                    raise OSError(errno.ENOSPC, "No space left on device", str(where))
                disk.free -= len(data)
                return self.f.write(data)

            def flush(self) -> None:
                self.f.flush()

            def close(self) -> None:
                self.f.close()
                self.closed = True

            def tell(self) -> int:
                return self.f.tell()

        out = Limited()
        try:
            _REAL_WRITE_TABLE(table, out, **kwargs)
        finally:
            out.close()


@pytest.mark.parametrize("free", [0, 3000, 12_000])
def test_a_full_disk_fails_the_run_leaves_no_staging_and_the_old_run_stays(
    day_with_a_good_run: Path, clean: tuple, monkeypatch: pytest.MonkeyPatch, free: int
) -> None:
    data_dir = day_with_a_good_run
    before = _outside(data_dir)
    disk = _Disk(free)
    with monkeypatch.context() as m:
        m.setattr(local.pq, "write_table", disk.write_table)
        with pytest.raises(OSError, match="No space left"):
            run_etl(data_dir, DAY)
    assert not (data_dir / "analytics" / "_staging").exists()  # the failed run took its files with it
    assert _view(data_dir) == clean  # it failed before the swap: the previous run is whole
    _rerun_matches_clean(data_dir, clean, before)


def test_a_real_full_disk_on_a_small_tmpfs(tmp_path: Path, clean: tuple) -> None:
    """The same on a real file system that fills up (a 3 MB tmpfs; needs root and mount)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        _raw_day(mnt)
        run_etl(mnt, date(2026, 11, 26))
        run_etl(mnt, DAY)
        before = _outside(mnt)
        filler = mnt / "analytics" / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # fill the disk, then leave two pages free
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        os.truncate(filler, max(0, filler.stat().st_size - 8192))
        with pytest.raises(OSError):
            run_etl(mnt, DAY)
        assert not (mnt / "analytics" / "_staging").exists()
        filler.unlink()
        _rerun_matches_clean(mnt, clean, before)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.parametrize(
    "broken",
    [b"not gzip at all", b"\x1f\x8b\x08\x00", "truncated", "bomb"],
    ids=["not-gzip", "cut-header", "truncated", "bomb"],
)
def test_a_broken_object_is_set_aside_and_a_rerun_after_repair_matches_a_clean_run(
    day_with_a_good_run: Path, clean: tuple, broken: bytes | str
) -> None:
    data_dir = day_with_a_good_run
    before = _outside(data_dir)
    obj = data_dir / layout.raw_hour_prefix(datetime(2026, 11, 27, 6)) / "b.gz"
    good = obj.read_bytes()
    settings = EtlSettings(max_object_bytes=8 << 20)
    if broken == "truncated":
        obj.write_bytes(good[: len(good) // 2])
    elif broken == "bomb":  # 64 MiB of newlines over an 8 MiB bound
        obj.write_bytes(gzip.compress(b"\n" * (64 << 20), compresslevel=9))
    else:
        assert isinstance(broken, bytes)
        obj.write_bytes(broken)
    report = run_etl(data_dir, DAY, settings=settings)
    (entry,) = report.quarantined_objects
    assert entry["file"].endswith("b.gz")
    assert {r["EventId"] for r in rows(data_dir)} >= {f"ev-{i}" for i in range(100)}
    obj.write_bytes(good)
    _rerun_matches_clean(data_dir, clean, before)


def test_a_poison_time_is_stored_and_a_rerun_is_identical(tmp_path: Path) -> None:
    """Times past DuckDB's nanosecond range and past year 9999 beside good events: the run finishes, the
    first is stored and the second quarantined, and a rerun changes nothing."""
    times = ["2262-04-12T00:00:00Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999-00:01"]
    events = [make_event(1), *(make_event(i, time=t) for i, t in enumerate(times, 2))]
    write_raw(tmp_path, datetime(2026, 11, 27, 2), events)
    first = run_etl(tmp_path, DAY)
    assert (first.events_stored, first.quarantine_reasons) == (3, {"invalid_time": 1})
    view, outside = _view(tmp_path), _outside(tmp_path)
    run_etl(tmp_path, DAY)
    assert _view(tmp_path) == view
    assert_only_appended(outside, _outside(tmp_path))
    shutil.rmtree(tmp_path / "analytics")
    run_etl(tmp_path, DAY)
    assert _view(tmp_path) == view
