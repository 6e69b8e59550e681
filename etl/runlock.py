"""Cross-process locks in the data folder: one run per arrival day, and one swap into analytics/ at a time.

A run of day D holds `analytics/_locks/<run_id>.lock` (an `fcntl.flock` lock, released by the kernel when
the process ends, even on kill -9) for its whole run, so two processes can never run the same day at once;
runs of other days take other files and run side by side. The short swap step (delete a run's old files,
move its staged ones in, prune empty folders) also takes `analytics/_locks/swap.lock`, because two days'
runs may share a dt/source partition folder. The holder writes who it is into the lock file, so a run that
gives up waiting can say which run and process holds the day.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from etl.errors import AuditLogError

LOCKS_PREFIX = "analytics/_locks/"
SWAP_LOCK = "swap"
_POLL_SECONDS = 0.05


class RunLocked(AuditLogError, RuntimeError):
    """Another run holds this arrival day's lock (or the swap lock) and did not release it in time."""


def lock_path(data_dir: Path, name: str) -> Path:
    """The lock file of `name` (a run id, or SWAP_LOCK) under the data folder."""
    return Path(data_dir) / LOCKS_PREFIX / f"{name}.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "an unknown process"
    if not isinstance(info, dict) or not info:
        return "an unknown process"
    return f"attempt {info.get('attempt')} (pid {info.get('pid')}, started {info.get('started_at')})"


@contextmanager
def hold(data_dir: Path, name: str, timeout: float, owner: dict[str, object] | None = None) -> Iterator[None]:
    """Hold the lock `name` for the block; wait at most `timeout` seconds, then raise RunLocked naming the
    holder. `owner` (attempt, pid, started_at) is written into the lock file while it is held."""
    path = lock_path(data_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    what = f"arrival day run {name}" if name != SWAP_LOCK else "the swap into analytics/"
                    raise RunLocked(
                        f"{what} is locked by {_holder(path)} ({path}); waited {timeout:g} s. Wait for that "
                        "run to finish, or raise AUDITLOG_ETL_LOCK_TIMEOUT_SECONDS; nothing was changed"
                    ) from None
                time.sleep(_POLL_SECONDS)
        if owner is not None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(owner).encode("utf-8"), 0)
        try:
            yield
        finally:
            if owner is not None:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
