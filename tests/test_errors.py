"""One error scheme (issue 16 item 4): every exception class our packages define derives from the project-wide
etl.errors.AuditLogError, so `except AuditLogError` catches everything we raise on purpose, and the old
ValueError / RuntimeError bases that callers catch are kept; bad settings raise ConfigurationError."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from etl.errors import AuditLogError, ConfigurationError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audit_query", "audit_events", "etl", "auditlog", "explorer")

ETL_ERRORS = {"etl.local.RunFailed", "etl.glue_job.EmptyArrivalDay", "etl.deploy.JobRunFailed"}


def _modules_defining_classes() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if any(isinstance(node, ast.ClassDef) for node in ast.walk(tree)):
                rel = path.relative_to(ROOT).with_suffix("")
                found.append(".".join(p for p in rel.parts if p != "__init__"))
    return found


def exception_classes() -> dict[str, type[BaseException]]:
    """Every public exception class defined in our packages, by dotted name.

    Classes whose name starts with "_" are left out: they are a module's private control flow (e.g. the Athena
    backend's `_LimitHit`) and never reach a caller.
    """
    out: dict[str, type[BaseException]] = {}
    for name in _modules_defining_classes():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not value.__name__.startswith("_")
            ):
                out[f"{name}.{value.__qualname__}"] = value
    return out


EXCEPTIONS = exception_classes()


def test_the_scan_finds_each_packages_exceptions() -> None:
    expected = {
        "audit_query.errors.AuditQueryError",
        "audit_query.errors.QueryValidationError",
        "audit_query.export.ExportTooLarge",
        "audit_events.contract.ContractError",
        "audit_events.access.AccessLogError",
        "etl.errors.ConfigurationError",
        *ETL_ERRORS,
    }
    assert expected <= set(EXCEPTIONS), sorted(expected - set(EXCEPTIONS))


def test_every_exception_class_derives_from_audit_log_error() -> None:
    unrooted = sorted(n for n, cls in EXCEPTIONS.items() if not issubclass(cls, AuditLogError))
    assert unrooted == []


@pytest.mark.parametrize(
    ("name", "base"),
    [
        ("audit_query.errors.QueryValidationError", ValueError),
        ("audit_query.export.ExportTooLarge", ValueError),
        ("audit_events.contract.ContractError", ValueError),
        ("audit_events.access.AccessLogError", RuntimeError),
        ("etl.errors.ConfigurationError", ValueError),
    ],
)
def test_the_bases_callers_catch_are_kept(name: str, base: type[BaseException]) -> None:
    assert issubclass(EXCEPTIONS[name], base)


def test_one_except_clause_catches_each_packages_errors() -> None:
    from audit_events.contract import check_event
    from audit_query import AuditLogQuery
    from audit_query.errors import AuditQueryError

    with pytest.raises(AuditLogError, match="event breaks the audit event contract"):
        check_event({"detail": {}})
    with pytest.raises(AuditQueryError) as caught:
        AuditLogQuery(None, None, ())  # no dates: the bad input is the point of the test
    assert isinstance(caught.value, AuditLogError)


def test_bad_settings_raise_configuration_errors() -> None:
    from audit_events.access import recorder_from_env
    from audit_query.backends import backend_from_env
    from audit_query.backends.athena import split_s3_uri
    from audit_query.masking import MaskingRules
    from audit_query.runs import store_for
    from explorer.auth import ClaimMapping
    from explorer.config import ExplorerSettings

    for bad in (
        lambda: backend_from_env({"AUDITLOG_BACKEND": "oracle"}),
        lambda: recorder_from_env({"AUDITLOG_ACCESS_LOG": "kafka"}),
        lambda: recorder_from_env({"AUDITLOG_ACCESS_LOG": "eventbridge"}),
        lambda: ExplorerSettings.from_env({"AUDITLOG_EXPORT_MAX_ROWS": "0"}),
        lambda: ClaimMapping.from_dict({"groups": {}}),
        lambda: MaskingRules.from_dict({"shop.users": {"fields": "email"}}),
        lambda: store_for("s3://"),
        lambda: split_s3_uri("https://example.com/analytics/"),
    ):
        with pytest.raises(ConfigurationError):
            bad()
