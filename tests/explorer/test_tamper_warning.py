"""Search and Entity warn when the dates they show hold files that failed the last verification (issue 11
item 4). The pages never verify: they read the status file `auditlog verify` or the Pipeline check left."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditlog.cli import main as auditlog
from etl import layout
from explorer.fmt import escape_md
from tests.explorer.conftest import HOSTILE, OLD, OLD_DAYS, texts

SOURCE = "shop.orders"


def _tamper_warnings(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [w for w in texts(at.warning) if "failed verification" in w]


def _copy_without(demo_dir: Path, tmp_path: Path, days_back: int) -> tuple[Path, str]:
    """A copy of the demo data with one data file of (today - days_back, shop.orders) deleted."""
    copy = tmp_path / "copy"
    shutil.copytree(demo_dir, copy)
    (copy / "verify-status.json").unlink(missing_ok=True)
    dt = datetime.now(UTC).date() - timedelta(days=days_back)
    folder = copy / layout.analytics_partition_prefix(dt, SOURCE)
    victim = sorted(folder.glob("*.parquet"))[0]
    victim.unlink()
    return copy, f"dt={dt:%Y-%m-%d} source={SOURCE}"


@pytest.fixture
def tampered_today(demo, tmp_path, monkeypatch):
    monkeypatch.delenv("AUDITLOG_VERIFY_STATUS", raising=False)
    return _copy_without(demo[0], tmp_path, 0)


@pytest.fixture
def tampered_old(demo, tmp_path, monkeypatch):
    monkeypatch.delenv("AUDITLOG_VERIFY_STATUS", raising=False)
    return _copy_without(demo[0], tmp_path, OLD_DAYS)


def test_search_warns_about_a_failed_partition_in_its_dates(app, tampered_today, monkeypatch):
    copy, label = tampered_today
    assert auditlog(["verify", "--data-dir", str(copy)]) == 1
    assert (copy / "verify-status.json").is_file()
    at = app()
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(copy))
    at.run()
    assert not at.exception
    (warning,) = _tamper_warnings(at)
    assert escape_md(label) in warning
    assert str(copy) not in warning.replace("\\", ""), "never a server path"


def test_search_does_not_warn_about_a_partition_outside_its_dates(app, tampered_old, monkeypatch):
    copy, _ = tampered_old
    assert auditlog(["verify", "--data-dir", str(copy)]) == 1
    at = app()
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(copy))
    at.run()
    assert not at.exception
    assert any("matching row" in c for c in texts(at.caption)), "the search ran"
    assert not _tamper_warnings(at)


def test_without_a_status_file_nothing_is_verified_or_warned(app, tampered_today, monkeypatch):
    copy, _ = tampered_today
    at = app()
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(copy))
    at.run()
    assert not at.exception
    assert not _tamper_warnings(at)
    assert not (copy / "verify-status.json").exists(), "a page view does not verify"


def test_entity_warns_when_its_dates_include_a_failed_partition(app, tampered_old, monkeypatch):
    copy, label = tampered_old
    assert auditlog(["verify", "--data-dir", str(copy)]) == 1
    at = app("pages/entity.py", eid=OLD.entity_id)
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(copy))
    at.run()
    assert not at.exception
    (warning,) = _tamper_warnings(at)
    assert escape_md(label) in warning and str(copy) not in warning.replace("\\", "")


def test_entity_does_not_warn_when_the_failed_partition_is_outside_its_dates(app, tampered_old, monkeypatch):
    copy, _ = tampered_old
    assert auditlog(["verify", "--data-dir", str(copy)]) == 1
    week_ago = (datetime.now(UTC).date() - timedelta(days=6)).isoformat()
    at = app("pages/entity.py", eid=HOSTILE.entity_id, **{"from": week_ago})
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(copy))
    at.run()
    assert not at.exception
    assert any("change" in c and "between" in c for c in texts(at.caption)), "the history was shown"
    assert not _tamper_warnings(at)


def test_the_pipeline_check_leaves_the_result_search_warns_from(app, tampered_today, monkeypatch):
    copy, label = tampered_today
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(copy))
    at = app("pages/pipeline.py")
    at.run()
    at.button(key="verify_chain").click().run()
    assert not at.exception
    at.switch_page("pages/search.py").run()
    (warning,) = _tamper_warnings(at)
    assert escape_md(label) in warning


def test_a_broken_manifest_chain_warns_whatever_the_dates(app, demo, tmp_path, monkeypatch):
    monkeypatch.delenv("AUDITLOG_VERIFY_STATUS", raising=False)
    copy = tmp_path / "copy"
    shutil.copytree(demo[0], copy)
    first = sorted((copy / "manifests").glob("0*.json"))[0]
    first.chmod(0o644)
    first.write_bytes(first.read_bytes().replace(b'"rows_out":', b'"rows_out":1', 1))
    assert auditlog(["verify", "--data-dir", str(copy)]) == 1
    at = app()
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(copy))
    at.run()
    (warning,) = _tamper_warnings(at)
    assert "chain itself failed verification" in warning
