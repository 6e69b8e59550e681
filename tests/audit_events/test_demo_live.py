"""`auditlog demo --live` (issue 12, item 5): a real-time trickle through the local sink, stopped cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from audit_events.demo import LIVE_ORDER_START, run_live
from etl import layout
from etl.local import run_etl

REPO = Path(__file__).resolve().parents[2]


def test_the_trickle_lands_as_raw_objects_the_etl_stores_whole(tmp_path: Path) -> None:
    started = datetime.now(UTC)
    stop = threading.Event()
    files: list[Path] = []
    result: list[object] = []
    thread = threading.Thread(
        target=lambda: result.append(run_live(tmp_path, rate=40, seed=7, stop=stop, on_file=files.append))
    )
    thread.start()
    end = time.monotonic() + 60
    while len(files) < 2 and time.monotonic() < end:  # a bound, not a timing assert
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive() and len(files) >= 2, "the live demo wrote fewer than two objects in 60 s"
    summary = result[0]
    days = sorted({p.relative_to(tmp_path).as_posix()[:29] for p in files})
    reports = [run_etl(tmp_path, datetime.strptime(d[4:], "year=%Y/month=%m/day=%d").date()) for d in days]
    assert sum(r.events_in for r in reports) == summary.records  # type: ignore[attr-defined]
    assert sum(r.quarantined for r in reports) == 0
    con = duckdb.connect()
    glob = str(tmp_path / layout.ANALYTICS_PREFIX / "**/*.parquet")
    first, last, orders = con.execute(
        f"SELECT min(Timestamp), max(Timestamp), min(CASE WHEN EntityType = 'Order' THEN EntityId END) "
        f"FROM read_parquet('{glob}')"
    ).fetchone()  # type: ignore[misc]
    # Event times are the real clock, not history; live order ids never reuse the batch demo's.
    assert started.replace(tzinfo=None) - timedelta(seconds=1) <= first <= last <= datetime.now(UTC).replace(
        tzinfo=None
    )
    assert orders is None or int(orders) >= LIVE_ORDER_START


def test_a_rate_of_zero_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        run_live(tmp_path, rate=0)


def test_the_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import sys; from auditlog.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "demo", "--live", "--rate", "50", "--data-dir", str(tmp_path)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        end = time.monotonic() + 60
        raw = tmp_path / "raw"
        while len(list(raw.rglob("*.gz"))) < 2 and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped;" in err and "error" not in err
    assert list((tmp_path / "raw").rglob("*.gz"))
