"""The ETL's named settings: read from the environment, documented in the README with their exact help."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.errors import ConfigurationError
from etl.settings import EtlSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_etl_setting_is_in_the_readme_with_its_help_and_default() -> None:
    for name in EtlSettings.names():
        var = EtlSettings.variable(name)
        line = next((ln for ln in README.splitlines() if ln.startswith(f"| `{var}` |")), None)
        assert line is not None, f"README.md does not document {var}"
        assert f"| {getattr(EtlSettings(), name)} | {EtlSettings.help(name)} |" in line


def test_settings_come_from_the_environment_and_a_bad_value_names_the_variable() -> None:
    env = {"AUDITLOG_ETL_LOCK_TIMEOUT_SECONDS": "2.5", "AUDITLOG_ETL_MAX_RECORD_BYTES": "4096"}
    got = EtlSettings.from_env(env)
    assert (got.lock_timeout_seconds, got.max_record_bytes) == (2.5, 4096)
    assert got.max_object_bytes == EtlSettings().max_object_bytes
    with pytest.raises(ConfigurationError, match="AUDITLOG_ETL_MAX_OBJECT_BYTES='big'"):
        EtlSettings.from_env({"AUDITLOG_ETL_MAX_OBJECT_BYTES": "big"})

