"""The project-wide exception root (a core module: imports nothing else of ours).

Every package's own errors derive from `AuditLogError`, so a caller can catch "anything this project raised on
purpose" in one clause; bad settings raise `ConfigurationError`, which is also a ValueError for old callers.

>>> err = ConfigurationError("AUDITLOG_MAX_LIMIT='many': expected a whole number")
>>> isinstance(err, AuditLogError), isinstance(err, ValueError)
(True, True)
"""

from __future__ import annotations


class AuditLogError(Exception):
    """Base class of every error this project raises on purpose; the message says what to change."""


class ConfigurationError(AuditLogError, ValueError):
    """A setting (an environment variable or a settings file) has a value the code cannot use."""
