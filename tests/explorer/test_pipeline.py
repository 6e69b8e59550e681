"""Pipeline page (AppTest over a real ETL run): runs with counts, quarantine with reasons, freshness."""

from __future__ import annotations

from explorer.fmt import escape_md
from tests.explorer.conftest import texts

PAGE = "pages/pipeline.py"


def test_runs_quarantine_and_freshness_match_the_etl_reports(app, demo):
    _, _, reports = demo
    at = app(PAGE).run()
    assert not at.exception and not at.error
    runs = at.dataframe[0].value
    assert sorted(runs["Run"]) == sorted(r.run_id for r in reports)
    assert sum(runs["Events in"]) == sum(r.events_in for r in reports)
    quarantine = at.dataframe[1].value
    assert len(quarantine) == sum(r.quarantined for r in reports) > 0
    assert set(quarantine["Reason"]) <= {reason for r in reports for reason in r.quarantine_reasons}
    newest = max(r.max_event_time for r in reports if r.max_event_time)
    stamp = newest.replace("T", " ").removesuffix("Z")
    assert any(f"events up to {stamp} UTC" in c for c in texts(at.caption))


def test_a_user_limited_to_some_sources_does_not_see_quarantined_raw_records(app, monkeypatch):
    monkeypatch.setenv("AUDITLOG_USERS", "carol:pw:shop.orders")
    at = app().run()
    at.text_input(key="signin_name").input("carol")
    at.text_input(key="signin_password").input("pw")
    at.button(key="FormSubmitter:sign_in-Sign in").click().run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert len(at.dataframe) == 1  # the runs, not the quarantine
    assert any("only users with every source" in c for c in texts(at.caption))


def test_unreadable_data_files_are_listed_by_partition_and_relative_name(app, broken, monkeypatch):
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(broken.data_dir))
    at = app(PAGE).run()
    assert not at.exception and not at.error
    frames = [f.value for f in at.dataframe]
    listed = next(f for f in frames if "File" in f.columns and "Source" in f.columns and "dt" in f.columns)
    assert list(zip(listed["dt"], listed["Source"], listed["File"], strict=True)) == [
        (broken.dt, broken.source, broken.file)
    ]
    shown = [*texts(at.caption), *texts(at.warning), *(str(v) for v in listed["Error"])]
    assert not any(str(broken.data_dir) in t for t in shown)


def test_a_bad_report_is_listed_once(app, broken, monkeypatch):
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(broken.data_dir))
    at = app(PAGE).run()
    assert not at.exception
    skipped = [w for w in texts(at.warning) if w.startswith("Skipped:")]
    assert len(skipped) == 1 and escape_md(broken.bad_report) in skipped[0]


def _signed_in(app, user: str):  # type: ignore[no-untyped-def]
    at = app().run()
    at.text_input(key="signin_name").input(user)
    at.text_input(key="signin_password").input("pw")
    at.button(key="FormSubmitter:sign_in-Sign in").click().run()
    at.switch_page(PAGE).run()
    return at


def test_a_scoped_user_sees_only_unreadable_files_of_their_sources(app, broken, lib, monkeypatch):
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(broken.data_dir))
    other = next(s for s in lib.sources() if s != broken.source)
    monkeypatch.setenv("AUDITLOG_USERS", f"dora:pw:{other};erin:pw:{broken.source}")
    at = _signed_in(app, "dora")
    assert not at.exception and "Unreadable files" not in texts(at.subheader)
    at = _signed_in(app, "erin")
    assert not at.exception and "Unreadable files" in texts(at.subheader)
