"""audit_query: the safe query library of the audit log (no UI imports).

Build an `AuditLogQuery`, hand it to an `AuditLogClient` over a backend (`DuckDBBackend` locally, Athena in
the cloud) and get `Page`s of `AuditRecord`s with opaque cursors. Users never write SQL: values become
literals in one function (`formatter.literal`), columns come from the schema allowlist.
"""

from .client import AuditLogClient
from .errors import AuditQueryError, BackendError, CursorError, QueryLimitExceeded, QueryValidationError
from .model import (
    Action,
    ActorType,
    AuditLogQuery,
    AuditRecord,
    Count,
    CountRow,
    Page,
    QueryStats,
    Rows,
    UnreadableFile,
)
from .settings import QuerySettings

__all__ = [
    "Action",
    "ActorType",
    "AuditLogClient",
    "AuditLogQuery",
    "AuditQueryError",
    "AuditRecord",
    "BackendError",
    "Count",
    "CountRow",
    "CursorError",
    "Page",
    "QueryLimitExceeded",
    "QuerySettings",
    "QueryStats",
    "QueryValidationError",
    "Rows",
    "UnreadableFile",
]
