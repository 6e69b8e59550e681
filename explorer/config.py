"""Explorer settings from the environment, each with its variable and a safe default.

>>> s = ExplorerSettings.from_env({"AUDITLOG_EXPORT_MAX_ROWS": "500", "AUDITLOG_DATA_DIR": "/srv/audit"})
>>> s.backend, s.data_dir.as_posix(), s.export_max_rows
('duckdb', '/srv/audit', 500)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from audit_query.backends import backend_name
from etl.layout import data_dir_from_env


def _positive_int(env: Mapping[str, str], var: str, default: int) -> int:
    raw = env.get(var)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{var}={raw!r}: expected a whole number") from None
    if value < 1:
        raise ValueError(f"{var}={raw!r}: expected a number of at least 1")
    return value


@dataclass(frozen=True)
class ExplorerSettings:
    """What the explorer needs beyond `audit_query.QuerySettings`.

    - `backend`: AUDITLOG_BACKEND, "duckdb" (default, local Parquet) or "athena".
    - `data_dir`: AUDITLOG_DATA_DIR, default ./data (DuckDB data and the ETL's reports/ and quarantine/).
    - `runs_location`: AUDITLOG_RUNS_LOCATION, where run reports live (a folder or s3://bucket/prefix);
      default the data folder in duckdb mode, none in athena mode.
    - `export_max_rows`: AUDITLOG_EXPORT_MAX_ROWS (default 100000): larger exports go to the CLI.
    - `cache_ttl_seconds`: AUDITLOG_CACHE_TTL_SECONDS (default 300): how long query results are reused.
    - `access_log`: AUDITLOG_ACCESS_LOG, where the explorer's own Read/Export events go: local, eventbridge
      or off; unset means eventbridge when AUDITLOG_ACCESS_EVENT_BUS is set, else local in duckdb mode,
      else off (audit_events.access.access_mode; checked when the first event is recorded).
    - `access_event_bus`: AUDITLOG_ACCESS_EVENT_BUS, the EventBridge bus for those events.
    """

    backend: str = "duckdb"
    data_dir: Path = Path("data")
    runs_location: str | None = None
    export_max_rows: int = 100_000
    cache_ttl_seconds: int = 300
    access_log: str | None = None
    access_event_bus: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExplorerSettings:
        """Read the AUDITLOG_* variables; a bad value raises ValueError naming the variable."""
        env = os.environ if environ is None else environ
        backend = backend_name(env)
        data_dir = data_dir_from_env(env)
        runs = env.get("AUDITLOG_RUNS_LOCATION") or (str(data_dir) if backend == "duckdb" else None)
        return cls(
            backend=backend,
            data_dir=data_dir,
            runs_location=runs,
            export_max_rows=_positive_int(env, "AUDITLOG_EXPORT_MAX_ROWS", 100_000),
            cache_ttl_seconds=_positive_int(env, "AUDITLOG_CACHE_TTL_SECONDS", 300),
            access_log=(env.get("AUDITLOG_ACCESS_LOG") or "").strip().lower() or None,
            access_event_bus=(env.get("AUDITLOG_ACCESS_EVENT_BUS") or "").strip() or None,
        )
