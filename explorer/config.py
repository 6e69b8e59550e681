"""Explorer settings on the project's one settings machinery (etl.settings): each is declared once, with its
help text and its variable; the access-log settings live beside the recorder (audit_events.access).

>>> s = ExplorerSettings.from_env({"AUDITLOG_EXPORT_MAX_ROWS": "500", "AUDITLOG_DATA_DIR": "/srv/audit"})
>>> s.backend, s.data_dir.as_posix(), s.export_max_rows, s.runs_location
('duckdb', '/srv/audit', 500, '/srv/audit')
>>> ExplorerSettings.from_env({"AUDITLOG_BACKEND": "athena"}).runs_location is None
True
>>> ExplorerSettings.from_env({"AUDITLOG_CACHE_TTL_SECONDS": "0"})
Traceback (most recent call last):
...
etl.errors.ConfigurationError: AUDITLOG_CACHE_TTL_SECONDS=0: expected a number of at least 1 (how long ...)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from audit_query.backends import BACKEND_ENV, backend_name
from etl.errors import ConfigurationError
from etl.layout import DATA_DIR_ENV, data_dir_from_env
from etl.settings import Settings, setting


@dataclass(frozen=True)
class ExplorerSettings(Settings):
    """What the explorer needs beyond `audit_query.QuerySettings` (`ExplorerSettings.help(name)` says what
    each does). `runs_location` left unset means the data folder in duckdb mode and none in athena mode."""

    backend: str = setting(
        "duckdb", "`duckdb` (local Parquet under the data folder) or `athena`", env=BACKEND_ENV
    )
    data_dir: Path = setting(
        help="the local data folder: raw/, analytics/, quarantine/, reports/",
        env=DATA_DIR_ENV,
        default_factory=lambda: data_dir_from_env({}),  # the one data-folder rule (etl.layout)
    )
    runs_location: str | None = setting(
        None, "where the Pipeline page reads run reports: a folder or `s3://bucket/prefix`"
    )
    export_max_rows: int = setting(
        100_000, "largest export built in the browser; larger views go to `auditlog export`"
    )
    cache_ttl_seconds: int = setting(
        300, "how long a query result is reused (cached per filter set and user scope)"
    )

    def __post_init__(self) -> None:
        """Normalise and check the values (ConfigurationError names the variable) and derive runs_location."""
        set_ = object.__setattr__  # frozen dataclass: normalising in __post_init__ is the documented way
        set_(self, "backend", backend_name({self.variable("backend"): str(self.backend)}))
        set_(self, "data_dir", Path(self.data_dir))
        for name in ("export_max_rows", "cache_ttl_seconds"):
            value = getattr(self, name)
            if value < 1:
                raise ConfigurationError(
                    f"{self.variable(name)}={value!r}: expected a number of at least 1 ({self.help(name)})"
                )
        if not self.runs_location:
            set_(self, "runs_location", str(self.data_dir) if self.backend == "duckdb" else None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExplorerSettings:
        """Defaults overridden by the AUDITLOG_* variables; a bad value raises ConfigurationError."""
        env = os.environ if environ is None else environ
        settings = super().from_env(env)
        if env.get(cls.variable("runs_location")):
            return settings
        # Derive the runs location again from the final backend and data folder, not from the defaults'.
        return dataclasses.replace(settings, runs_location=None)
