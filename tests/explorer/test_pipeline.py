"""Pipeline page (AppTest over a real ETL run): runs with counts, quarantine with reasons, freshness."""

from __future__ import annotations

from explorer.fmt import escape_md
from tests.explorer.conftest import html_cells, texts
from tests.explorer.signin import with_sign_in, write_mapping

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


def test_a_scoped_user_sees_only_unreadable_files_of_their_sources(app, broken, lib, monkeypatch, tmp_path):
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(broken.data_dir))
    other = next(s for s in lib.sources() if s != broken.source)
    mapping = write_mapping(
        tmp_path, {"groups": {"other": {"sources": [other]}, "owner": {"sources": [broken.source]}}}
    )
    for group, sees in (("other", False), ("owner", True)):
        at = with_sign_in(app(PAGE), mapping, monkeypatch, email=f"{group}@example.com", groups=[group])
        at.run()
        assert not at.exception
        assert ("Unreadable files" in texts(at.subheader)) is sees, group


def test_a_scoped_user_without_the_operator_role_sees_only_their_sources_figures(
    app, demo, monkeypatch, tmp_path
):
    _, _, reports = demo
    at = app(PAGE)
    with_sign_in(at, write_mapping(tmp_path), monkeypatch, email="b@example.com", groups=["support-orders"])
    at.run()
    assert not at.exception and not at.metric and len(at.dataframe) == 1
    shown = at.dataframe[0].value
    assert list(shown.columns) == ["Run", "Arrival day", "Finished (UTC)", "shop.orders"]
    expected = {
        r.run_id: sum(p["rows"] for p in r.partitions if p["source"] == "shop.orders") for r in reports
    }
    assert dict(zip(shown["Run"], shown["shop.orders"], strict=True)) == {
        k: v for k, v in expected.items() if v
    }
    assert any("only users with the operator role" in c for c in texts(at.caption))
    assert not any("/" in t and "tmp" in t for t in texts(at.caption) + texts(at.warning))


def test_the_selected_quarantined_record_is_shown_in_full_and_pretty_printed(app, demo):
    import json

    at = app(PAGE).run()
    assert not at.exception
    grid = at.dataframe[1].value
    last = len(grid) - 1
    at.session_state["q_grid"] = {"selection": {"rows": [last], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    raw = grid["Raw record"][last]
    assert last > 0 and raw != grid["Raw record"][0]  # the selection, not the first row, is shown
    code = html_cells(at.html)
    try:
        expected = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        expected = raw
    assert expected in code  # the whole text (the grid cell clips it), JSON indented
    shown = texts(at.text)
    assert any(t.startswith(f"Object key: {grid['File'][last]}") for t in shown), shown
    assert any(escape_md(grid["Reason"][last]) in m for m in texts(at.markdown)), texts(at.markdown)
