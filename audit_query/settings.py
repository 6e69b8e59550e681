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
from dataclasses import dataclass

from etl.settings import ENV_PREFIX, Settings, setting

CURSOR_SECRET_ENV = "AUDITLOG_CURSOR_SECRET"
__all__ = ["CURSOR_SECRET_ENV", "ENV_PREFIX", "QuerySettings"]

# One random secret per process when none is configured: cursors then stop working across restarts and
# across processes (several explorer replicas), which only costs the user a "start again from page 1".
_PROCESS_SECRET = secrets.token_bytes(32)


def _default_secret() -> bytes:
    value = os.environ.get(CURSOR_SECRET_ENV)
    return value.encode("utf-8") if value else _PROCESS_SECRET


@dataclass(frozen=True)
class QuerySettings(Settings):
    """Limits and names the library enforces; every field has help text (`QuerySettings.help(name)`)."""

    max_range_days: int = setting(7, ("longest date range (days, inclusive) for filtered browsing"))
    max_history_days: int = setting(
        400,
        ("longest date range (days, inclusive) for one entity's history (entity_id set)"),
    )
    max_string_length: int = setting(256, ("longest accepted text filter value (characters)"))
    default_limit: int = setting(100, ("page size when the caller gives none (rows per page)"))
    max_limit: int = setting(1000, ("largest page size a caller may ask for (rows per page)"))
    max_filter_values: int = setting(100, ("most values accepted in one list filter (sources, types, ...)"))
    max_related_rows: int = setting(10000, ("most rows returned by history() and correlation()"))
    sources_cache_seconds: float = setting(30.0, ("how long a discovered source list is reused (seconds)"))
    athena_database: str = setting("auditlog", ("Athena/Glue database holding the audit table"))
    athena_table: str = setting("auditlog", ("Athena/Glue table name of the audit log"))
    athena_workgroup: str = setting(
        "primary", ("Athena workgroup queries run in (its limits and result settings)")
    )
    athena_output_location: str = setting(
        "",
        ("s3://bucket/prefix/ for Athena query results; empty: the workgroup's own location"),
    )
    athena_max_bytes_scanned: int = setting(
        10 * 1024**3,
        ("an Athena query scanning more bytes than this is cancelled (bytes; 0 = no limit)"),
    )
    athena_timeout_seconds: float = setting(
        300.0,
        ("an Athena query running longer than this is cancelled (seconds; 0 = no limit)"),
    )
    athena_poll_seconds: float = setting(
        0.5, ("wait between two Athena status checks of a running query (seconds)")
    )
    athena_source_lookback_days: int = setting(
        31,
        (
            "how many of the newest dt= partitions are listed to discover sources on S3 (one S3 call each; "
            "a source silent for longer drops out of the default source list until it writes again)"
        ),
    )
    analytics_s3_uri: str = setting(
        "",
        ("s3://bucket/analytics/auditlog/: the Parquet table root, listed to discover sources"),
    )
    raw_s3_uri: str = setting(
        "",
        (
            "s3://raw-bucket/: the Firehose raw bucket; when set, the explorer on Athena also serves the "
            "rows of raw objects no finished Glue run has read (the not-yet-processed tail)"
        ),
    )
    tail_list_seconds: float = setting(
        10.0, ("how long one listing of the raw objects waiting on S3 is reused (seconds)")
    )
    cursor_secret: bytes = setting(
        help=f"HMAC key signing page cursors: ${CURSOR_SECRET_ENV}, else a random per-process secret "
        "(cursors then do not survive a restart or move between processes)",
        default_factory=_default_secret,
        repr=False,
    )
