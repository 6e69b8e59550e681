"""Every limit of the query library as a named setting with help text (Datasette style).

Settings come from code (`QuerySettings(max_range_days=31)`) or the environment (`QuerySettings.from_env()`,
variables `AUDITLOG_<NAME>`, e.g. `AUDITLOG_MAX_RANGE_DAYS=14`).

>>> s = QuerySettings()
>>> s.max_limit, s.max_range_days, s.max_history_days
(1000, 7, 400)
>>> QuerySettings.help("max_limit")
'largest page size a caller may ask for (rows per page)'
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

CURSOR_SECRET_ENV = "AUDITLOG_CURSOR_SECRET"
ENV_PREFIX = "AUDITLOG_"

# One random secret per process when none is configured: cursors then stop working across restarts and
# across processes (several explorer replicas), which only costs the user a "start again from page 1".
_PROCESS_SECRET = secrets.token_bytes(32)


def _default_secret() -> bytes:
    value = os.environ.get(CURSOR_SECRET_ENV)
    return value.encode("utf-8") if value else _PROCESS_SECRET


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class QuerySettings:
    """Limits and names the library enforces; every field has help text (`QuerySettings.help(name)`)."""

    max_range_days: int = field(
        default=7, metadata=_help("longest date range (days, inclusive) for filtered browsing")
    )
    max_history_days: int = field(
        default=400,
        metadata=_help("longest date range (days, inclusive) for one entity's history (entity_id set)"),
    )
    max_string_length: int = field(
        default=256, metadata=_help("longest accepted text filter value (characters)")
    )
    default_limit: int = field(
        default=100, metadata=_help("page size when the caller gives none (rows per page)")
    )
    max_limit: int = field(
        default=1000, metadata=_help("largest page size a caller may ask for (rows per page)")
    )
    max_filter_values: int = field(
        default=100, metadata=_help("most values accepted in one list filter (sources, types, ...)")
    )
    max_related_rows: int = field(
        default=10000, metadata=_help("most rows returned by history() and correlation()")
    )
    sources_cache_seconds: float = field(
        default=30.0, metadata=_help("how long a discovered source list is reused (seconds)")
    )
    athena_database: str = field(
        default="auditlog", metadata=_help("Athena/Glue database holding the audit table")
    )
    athena_table: str = field(default="auditlog", metadata=_help("Athena/Glue table name of the audit log"))
    athena_workgroup: str = field(
        default="primary", metadata=_help("Athena workgroup queries run in (its limits and result settings)")
    )
    athena_output_location: str = field(
        default="",
        metadata=_help("s3://bucket/prefix/ for Athena query results; empty: the workgroup's own location"),
    )
    athena_max_bytes_scanned: int = field(
        default=10 * 1024**3,
        metadata=_help("an Athena query scanning more bytes than this is cancelled (bytes; 0 = no limit)"),
    )
    athena_timeout_seconds: float = field(
        default=300.0,
        metadata=_help("an Athena query running longer than this is cancelled (seconds; 0 = no limit)"),
    )
    athena_poll_seconds: float = field(
        default=0.5, metadata=_help("wait between two Athena status checks of a running query (seconds)")
    )
    athena_source_lookback_days: int = field(
        default=31,
        metadata=_help(
            "how many of the newest dt= partitions are listed to discover sources on S3 (one S3 call each; "
            "a source silent for longer drops out of the default source list until it writes again)"
        ),
    )
    analytics_s3_uri: str = field(
        default="",
        metadata=_help("s3://bucket/analytics/auditlog/: the Parquet table root, listed to discover sources"),
    )
    cursor_secret: bytes = field(
        default_factory=_default_secret,
        repr=False,
        metadata={
            "help": f"HMAC key signing page cursors: ${CURSOR_SECRET_ENV}, else a random per-process secret "
            "(cursors then do not survive a restart or move between processes)"
        },
    )

    @classmethod
    def help(cls, name: str) -> str:
        """The help text of one setting; KeyError names the known settings."""
        for f in fields(cls):
            if f.name == name:
                return str(f.metadata["help"])
        raise KeyError(f"unknown setting {name!r}; known: {', '.join(f.name for f in fields(cls))}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QuerySettings:
        """Settings with overrides from `AUDITLOG_<SETTING>` variables; a bad number raises ValueError.

        >>> QuerySettings.from_env({"AUDITLOG_MAX_RANGE_DAYS": "14"}).max_range_days
        14
        """
        env = os.environ if environ is None else environ
        base = cls()
        changes: dict[str, object] = {}
        for f in fields(cls):
            var = ENV_PREFIX + f.name.upper()
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            current = getattr(base, f.name)
            try:
                if isinstance(current, bytes):
                    changes[f.name] = raw.encode("utf-8")
                elif isinstance(current, int):
                    changes[f.name] = int(raw)
                elif isinstance(current, float):
                    changes[f.name] = float(raw)
                else:
                    changes[f.name] = raw
            except ValueError:
                raise ValueError(
                    f"{var}={raw!r}: expected a {type(current).__name__} ({cls.help(f.name)})"
                ) from None
        return replace(base, **changes) if changes else base
