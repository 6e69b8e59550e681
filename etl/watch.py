"""`auditlog etl --watch`: keep the local analytics data current as raw objects land (issue 12, item 1).

Which raw objects a finished run covered is read from its newest manifest (`inputs`: the exact keys it
read), so "waiting" is exact: an object that landed while a run was reading is not in that run's inputs and
is picked up by the next one. Every `watch_interval_seconds` the loop lists today's raw hour folders (cheap:
one directory listing per hour folder) and re-runs today when an object is waiting; after UTC midnight it runs
the finished day once more. Runs own their files (etl.local), so re-running a day is idempotent, and the day
lock (etl.runlock) keeps a watcher and a hand-started `auditlog etl` from running the same day at once.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from etl import layout, raw
from etl.errors import ConfigurationError
from etl.local import RunReport, run_etl
from etl.manifest import MANIFESTS_PREFIX, parse_manifest_key
from etl.settings import EtlSettings

Clock = Callable[[], datetime]
_COVERED: dict[Path, frozenset[str]] = {}
"""Inputs of a manifest file, by its absolute path: a manifest is created once and never rewritten, so this
never goes stale."""
_COVERED_LOCK = threading.Lock()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def newest_manifest_key(data_dir: Path, day: date) -> str | None:
    """The key of the newest manifest of `day`'s run (highest sequence number), or None when none exists."""
    run = layout.run_id(day)
    best: tuple[int, str] | None = None
    for path in (Path(data_dir) / MANIFESTS_PREFIX).glob(f"*-{run}.json"):
        key = f"{MANIFESTS_PREFIX}{path.name}"
        parsed = parse_manifest_key(key)
        if parsed is not None and (best is None or parsed[0] > best[0]):
            best = (parsed[0], key)
    return None if best is None else best[1]


def covered_inputs(data_dir: Path, day: date) -> frozenset[str]:
    """The raw keys (relative to the data folder) that `day`'s newest finished run read; empty when no run
    of that day has finished (or its manifest cannot be read: then every object counts as waiting)."""
    key = newest_manifest_key(data_dir, day)
    if key is None:
        return frozenset()
    path = (Path(data_dir) / key).resolve()
    with _COVERED_LOCK:
        if path in _COVERED:
            return _COVERED[path]
    try:
        body = json.loads(path.read_text(encoding="utf-8"))["manifest"]
        inputs = frozenset(str(entry["key"]) for entry in body["inputs"])
    except (OSError, ValueError, KeyError, TypeError):
        return frozenset()
    with _COVERED_LOCK:
        _COVERED[path] = inputs
    return inputs


def pending_objects(data_dir: Path, day: date) -> list[Path]:
    """The raw objects of arrival day `day` that no finished run has read yet, sorted by key."""
    data_dir = Path(data_dir)
    files = raw.raw_files(data_dir, day)
    if not files:
        return []
    covered = covered_inputs(data_dir, day)
    return [p for p in files if p.relative_to(data_dir).as_posix() not in covered]


class Watcher:
    """The watch loop's state: which finished days it has already run once more after midnight.

    `tick()` does one round (tests drive it directly); `run()` loops until `stop` is set.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        settings: EtlSettings | None = None,
        clock: Clock = _utc_now,
        stop: threading.Event | None = None,
        on_report: Callable[[RunReport], None] | None = None,
        on_error: Callable[[date, Exception], None] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.settings = settings or EtlSettings.from_env()
        if self.settings.watch_interval_seconds <= 0:
            raise ConfigurationError(
                "AUDITLOG_ETL_WATCH_INTERVAL_SECONDS must be positive, got "
                f"{self.settings.watch_interval_seconds:g}"
            )
        self.clock = clock
        self.stop = stop or threading.Event()
        self.on_report = on_report or (lambda report: None)
        self.on_error = on_error or _print_error
        self._current: date | None = None
        self.runs = 0

    def _run(self, day: date) -> bool:
        try:
            report = run_etl(self.data_dir, day, settings=self.settings)
        except Exception as exc:  # noqa: BLE001 (a failed or locked run is retried on the next tick)
            self.on_error(day, exc)
            return False
        self.runs += 1
        self.on_report(report)
        return True

    def tick(self) -> list[date]:
        """One round: run a day that just finished (once, after UTC midnight), then any of yesterday and today
        with raw objects waiting. Returns the days run successfully."""
        today = self.clock().astimezone(UTC).date()
        done: list[date] = []
        if self._current is not None and today > self._current:
            finished = self._current
            if raw.raw_files(self.data_dir, finished) and self._run(finished):
                done.append(finished)
        self._current = today
        for day in (today - timedelta(days=1), today):
            if day not in done and pending_objects(self.data_dir, day) and self._run(day):
                done.append(day)
        return done

    def run(self) -> None:
        """Tick, then wait `watch_interval_seconds` (or until `stop` is set); repeat until stopped."""
        while not self.stop.is_set():
            self.tick()
            self.stop.wait(self.settings.watch_interval_seconds)


def _print_error(day: date, exc: Exception) -> None:
    msg = f"auditlog etl --watch: {day}: {type(exc).__name__}: {exc} (retried on the next round)"
    print(msg, file=sys.stderr, flush=True)
