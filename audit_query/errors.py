"""Exceptions of the query library, PEP 249 flavoured: one base class (under the project-wide AuditLogError),
user-fixable errors are ValueErrors.

>>> err = QueryValidationError("sources", "required", "at least one source")
>>> str(err)
'sources: at least one source (rule: required)'
>>> isinstance(err, ValueError), isinstance(err, AuditLogError), err.field, err.rule
(True, True, 'sources', 'required')
"""

from __future__ import annotations

from etl.errors import AuditLogError


class AuditQueryError(AuditLogError):
    """Base class of every error this library raises on purpose (an AuditLogError)."""


class QueryValidationError(AuditQueryError, ValueError):
    """A query parameter broke a rule; `.field` and `.rule` say which, the message says what to change."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        self.field = field
        self.rule = rule
        self.detail = message
        super().__init__(f"{field}: {message} (rule: {rule})")


class CursorError(QueryValidationError):
    """A page cursor was tampered with, malformed, or issued for different filters."""

    def __init__(self, message: str, rule: str = "cursor") -> None:
        super().__init__("cursor", rule, message)


class BackendError(AuditQueryError):
    """The query engine failed (not the caller's input): connection, engine error, missing permissions."""


class QueryLimitExceeded(BackendError):
    """The engine stopped a query at a configured cutoff (Athena bytes scanned or run time)."""
