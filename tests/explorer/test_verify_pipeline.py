"""Pipeline page, tamper evidence: the manifest chain is checked only on demand, and its state is shown."""

from __future__ import annotations

import shutil

from etl import layout
from tests.explorer.conftest import texts

PAGE = "pages/pipeline.py"


def test_the_chain_is_verified_on_demand_and_its_head_shown(app, demo):
    _, _, reports = demo
    at = app(PAGE).run()
    assert not at.exception and not at.error
    assert not any("Verified up to run" in s for s in texts(at.success)), "no check on a plain page view"
    at.button(key="verify_chain").click().run()
    assert not at.exception and not at.error
    (ok,) = [s for s in texts(at.success) if "Verified up to run" in s]
    assert f"{len(reports)} manifests" in ok


def test_a_changed_file_is_shown_as_the_first_problem(app, demo, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(demo[0], copy)
    key = next(p for p in (copy / layout.ANALYTICS_PREFIX).rglob("*.parquet"))
    key.chmod(0o644)
    key.write_bytes(key.read_bytes()[:-1] + b"x")
    at = app(PAGE)
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(copy))
    at.run()
    at.button(key="verify_chain").click().run()
    assert not at.exception
    assert any("1 problem(s)" in e for e in texts(at.error))
    first = [m for m in texts(at.markdown) if m.startswith("First problem")]
    assert first and "changed" in first[0]
    assert str(key.relative_to(copy)) in first[0].replace("\\", ""), "it names the file"
