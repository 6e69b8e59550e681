"""One settings scheme (issue 16 item 3): the explorer's and the access log's settings are declared once on
etl.settings' machinery, bad values name their variable, derived defaults follow the final values, and the
explorer's cache TTL is read when the cache is used, not frozen at import."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.caching import cache_utils

from audit_events.access import AccessLogSettings, access_mode
from audit_query import AuditLogQuery
from etl.errors import ConfigurationError
from etl.settings import Settings
from explorer.config import ExplorerSettings


@pytest.mark.parametrize("cls", [ExplorerSettings, AccessLogSettings])
def test_every_setting_has_help_text_and_a_variable(cls: type[Settings]) -> None:
    assert issubclass(cls, Settings)
    for name in cls.names():
        assert cls.help(name).strip(), f"{cls.__name__}.{name} has no help text"
        assert cls.variable(name).startswith("AUDITLOG_")


def test_the_access_settings_are_declared_once_not_also_in_the_explorer_settings() -> None:
    explorer = {ExplorerSettings.variable(n) for n in ExplorerSettings.names()}
    access = {AccessLogSettings.variable(n) for n in AccessLogSettings.names()}
    assert access == {"AUDITLOG_ACCESS_LOG", "AUDITLOG_ACCESS_EVENT_BUS"}
    assert not explorer & access


def test_defaults_and_values_from_the_environment() -> None:
    s = ExplorerSettings.from_env({})
    assert (s.backend, s.data_dir, s.runs_location, s.export_max_rows, s.cache_ttl_seconds) == (
        "duckdb", Path("data"), "data", 100_000, 300,
    )
    s = ExplorerSettings.from_env({
        "AUDITLOG_BACKEND": " Athena ", "AUDITLOG_EXPORT_MAX_ROWS": "5", "AUDITLOG_CACHE_TTL_SECONDS": "9",
    })
    assert (s.backend, s.runs_location, s.export_max_rows, s.cache_ttl_seconds) == ("athena", None, 5, 9)


def test_the_runs_location_follows_the_data_folder_given_unless_set() -> None:
    assert ExplorerSettings.from_env({"AUDITLOG_DATA_DIR": "/srv/a"}).runs_location == "/srv/a"
    given = {"AUDITLOG_DATA_DIR": "/srv/a", "AUDITLOG_RUNS_LOCATION": "s3://b/p"}
    assert ExplorerSettings.from_env(given).runs_location == "s3://b/p"
    assert ExplorerSettings(data_dir=Path("/x")).runs_location == "/x"
    assert dataclasses.replace(ExplorerSettings(), backend="athena", runs_location=None).runs_location is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUDITLOG_EXPORT_MAX_ROWS": "lots"}, "AUDITLOG_EXPORT_MAX_ROWS='lots': expected a int"),
        ({"AUDITLOG_EXPORT_MAX_ROWS": "0"}, "AUDITLOG_EXPORT_MAX_ROWS=0: expected a number of at least 1"),
        ({"AUDITLOG_CACHE_TTL_SECONDS": "-5"}, "AUDITLOG_CACHE_TTL_SECONDS=-5: expected a number"),
        ({"AUDITLOG_BACKEND": "oracle"}, "AUDITLOG_BACKEND='oracle' is not a backend; use one of: duckdb"),
    ],
)
def test_bad_explorer_settings_raise_configuration_errors_naming_the_variable(env, message) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ExplorerSettings.from_env(env)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)  # app.py's `except ValueError` still shows it as a message


def test_the_access_mode_is_derived_as_documented() -> None:
    assert access_mode({}) == "local"
    assert access_mode({"AUDITLOG_BACKEND": "athena"}) == "off"
    assert access_mode({"AUDITLOG_BACKEND": "athena", "AUDITLOG_ACCESS_EVENT_BUS": " bus "}) == "eventbridge"
    assert access_mode({"AUDITLOG_ACCESS_LOG": "OFF", "AUDITLOG_ACCESS_EVENT_BUS": "bus"}) == "off"
    assert AccessLogSettings.from_env({"AUDITLOG_ACCESS_EVENT_BUS": " bus "}).access_event_bus == "bus"
    with pytest.raises(ConfigurationError, match="AUDITLOG_ACCESS_LOG='kafka': use one of local"):
        access_mode({"AUDITLOG_ACCESS_LOG": "kafka"})


class _CountingClient:
    """Stands in for AuditLogClient: counts how often the cache had to ask it."""

    def __init__(self) -> None:
        self.calls = 0

    def count(self, q: AuditLogQuery) -> int:
        self.calls += 1
        return 42


def test_the_cache_ttl_set_after_import_is_the_one_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from explorer import data  # imported (and so decorated) while the TTL was still its default of 300

    now = [1000.0]
    monkeypatch.setattr(cache_utils, "TTLCACHE_TIMER", lambda: now[0])
    monkeypatch.setenv("AUDITLOG_CACHE_TTL_SECONDS", "7")
    st.cache_data.clear()
    qkey = data.query_key(AuditLogQuery(date(2026, 11, 20), date(2026, 11, 20), sources=("shop.orders",)))
    fake = _CountingClient()
    try:
        assert data._count(fake, "ttl-test", qkey, "*") == 42
        now[0] += 5
        data._count(fake, "ttl-test", qkey, "*")
        assert fake.calls == 1, "within the TTL the cached count is reused"
        now[0] += 5
        data._count(fake, "ttl-test", qkey, "*")
        assert fake.calls == 2, "10 s after the first call a 7 s TTL has run out (300 s would still hold)"
    finally:
        st.cache_data.clear()
