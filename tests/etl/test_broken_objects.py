"""No single object can stop a day (issue 10 items 3 and 4): unreadable, truncated and over-bound raw objects
are quarantined as objects, over-long lines as records, and the rest of the day is processed."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime
from pathlib import Path

import pytest

from auditlog.cli import main
from etl import layout, raw
from etl.local import run_etl
from etl.settings import EtlSettings
from tests.etl.conftest import make_event, write_raw
from tests.etl.test_local_etl import check_invariant, quarantine, rows

DAY = date(2026, 11, 27)
HOUR = datetime(2026, 11, 27, 3)


def _good_objects(data_dir: Path) -> None:
    write_raw(data_dir, HOUR, [make_event(i) for i in range(3)], name="a.gz")
    write_raw(data_dir, datetime(2026, 11, 27, 9), [make_event(i) for i in range(3, 6)], name="z.gz")


def _put(data_dir: Path, name: str, data: bytes) -> Path:
    path = data_dir / layout.raw_hour_prefix(HOUR) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _truncated(n: int) -> bytes:
    lines = "".join(json.dumps(make_event(100 + i, note="x" * 200)) + "\n" for i in range(n))
    blob = gzip.compress(lines.encode())
    return blob[: len(blob) * 2 // 3]


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("m-not-gzip.gz", b"this is not gzip at all\n", "not gzip"),
        ("m-empty-header.gz", b"\x1f\x8b", "EOFError"),
        ("m-truncated.gz", _truncated(400), "EOFError"),
    ],
)
def test_an_unreadable_object_is_quarantined_and_the_rest_of_the_day_is_stored(
    tmp_path: Path, name: str, data: bytes, error: str
) -> None:
    _good_objects(tmp_path)
    path = _put(tmp_path, name, data)
    report = run_etl(tmp_path, DAY)
    ids = {r["EventId"] for r in rows(tmp_path)}
    assert {f"ev-{i}" for i in range(6)} <= ids
    (obj,) = report.quarantined_objects
    assert obj["file"] == path.relative_to(tmp_path).as_posix() and obj["reason"] == "unreadable_object"
    assert error in obj["message"]
    kept = len(ids) - 6
    assert obj["records_read"] == kept  # the complete records before the break are stored
    if name == "m-truncated.gz":
        assert 0 < kept < 400
    entry = next(q for q in quarantine(tmp_path) if q["line"] is None)
    expected = {"run_id": "run-20261127", "file": obj["file"], "line": None, "reason": "unreadable_object"}
    assert entry == {**expected, "message": obj["message"], "raw": None, "records_read": kept}
    check_invariant(report)
    assert report.quarantined == 0  # an object is not an event: the event counts stay balanced


def test_an_object_that_cannot_be_opened_is_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permission denied (simulated: the tests run as root, which chmod cannot lock out)."""
    _good_objects(tmp_path)
    denied = _put(tmp_path, "m-denied.gz", gzip.compress(json.dumps(make_event(50)).encode()))
    real_open = open

    def guarded_open(file, *args, **kwargs):  # noqa: ANN001, ANN202
        if Path(file) == denied:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(raw, "open", guarded_open, raising=False)
    report = run_etl(tmp_path, DAY)
    (obj,) = report.quarantined_objects
    assert obj["reason"] == "unreadable_object" and "PermissionError: Permission denied" in obj["message"]
    assert obj["records_read"] == 0
    assert {r["EventId"] for r in rows(tmp_path)} == {f"ev-{i}" for i in range(6)}


def test_an_object_over_the_size_bound_is_quarantined_unread(tmp_path: Path) -> None:
    _good_objects(tmp_path)
    big = write_raw(tmp_path, HOUR, [make_event(i, note="y" * 500) for i in range(200, 400)], name="m-big.gz")
    report = run_etl(tmp_path, DAY, settings=EtlSettings(max_object_bytes=50_000))
    (obj,) = report.quarantined_objects
    assert (obj["file"], obj["reason"], obj["records_read"]) == (
        big.relative_to(tmp_path).as_posix(), "object_too_large", 0)
    assert "50,000 bytes" in obj["message"]
    assert {r["EventId"] for r in rows(tmp_path)} == {f"ev-{i}" for i in range(6)}


def test_a_line_over_the_record_bound_is_quarantined_with_its_start(tmp_path: Path) -> None:
    long_event = make_event(7, note="z" * 5000)
    write_raw(tmp_path, HOUR, [make_event(1), long_event, make_event(2)])
    report = run_etl(tmp_path, DAY, settings=EtlSettings(max_record_bytes=4096))
    (entry,) = quarantine(tmp_path)
    assert (entry["reason"], entry["line"]) == ("record_too_large", 2)
    assert entry["raw"] == json.dumps(long_event, separators=(",", ":"))[:1000]
    assert "bytes" in entry["message"]
    assert [r["EventId"] for r in rows(tmp_path)] == ["ev-1", "ev-2"]
    assert report.quarantine_reasons == {"record_too_large": 1}
    check_invariant(report)


def test_etl_all_runs_every_day_and_summarises_the_failed_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken object is not a failed day; a day that does fail (here its lock is held) is listed at the end,
    after every other day ran, and the exit code is 1."""
    from etl import runlock

    for day in (25, 26, 27):
        write_raw(tmp_path, datetime(2026, 11, day, 4), [make_event(day)])
    _put(tmp_path, "broken.gz", b"not gzip")  # on the 27th
    monkeypatch.setenv("AUDITLOG_ETL_LOCK_TIMEOUT_SECONDS", "0.1")
    with runlock.hold(tmp_path, "run-20261126", 1.0, {"attempt": "other", "pid": 1, "started_at": "x"}):
        assert main(["etl", "--data-dir", str(tmp_path), "--all", "--json"]) == 1
    out, err = capsys.readouterr()
    runs = [json.loads(line)["run_id"] for line in out.splitlines() if line.startswith("{")]
    assert runs == ["run-20261125", "run-20261127"]
    assert "1 arrival day(s) failed" in err and "2026-11-26: RunLocked" in err and "pid 1" in err
    assert err.rstrip().splitlines()[-1].startswith("2026-11-26")  # the summary comes last
    last = json.loads((tmp_path / layout.report_key(DAY)).read_text())
    assert last["quarantined_objects"][0]["reason"] == "unreadable_object"
