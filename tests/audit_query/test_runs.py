"""Run reports, quarantine and freshness read from a real local ETL run and from S3 (moto)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from audit_events.demo import generate_demo
from audit_query.runs import LocalStorage, RunStore, S3Storage, store_for
from etl.local import run_all

END = date(2026, 11, 27)


@pytest.fixture(scope="module")
def etl_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp("runs")
    generate_demo(data, days=2, events_per_day=300, end_date=END, seed=3)
    reports = run_all(data)
    return data, reports


def test_runs_match_the_etl_reports_newest_first(etl_dir):
    data, reports = etl_dir
    runs = store_for(data).runs()
    assert [r.run_id for r in runs] == sorted((r.run_id for r in reports), reverse=True)
    by_id = {r.run_id: r for r in reports}
    for run in runs:
        expected = by_id[run.run_id]
        assert (run.events_in, run.quarantined, run.rows_out, run.duplicates_removed) == (
            expected.events_in,
            expected.quarantined,
            expected.rows_out,
            expected.duplicates_removed,
        )
        assert run.quarantine_reasons == expected.quarantine_reasons
    assert [r.run_id for r in store_for(data).runs(limit=1)] == [runs[0].run_id]


def test_quarantine_lists_every_record_with_its_reason(etl_dir):
    data, reports = etl_dir
    records = store_for(data).quarantine()
    assert len(records) == sum(r.quarantined for r in reports) > 0
    assert all(q.reason and q.raw and q.file.startswith("raw/") for q in records)
    one = records[0].run_id
    assert {q.run_id for q in store_for(data).quarantine(run_id=one)} == {one}


def test_freshness_is_the_newest_event_time_of_any_run(etl_dir):
    data, reports = etl_dir
    fresh = store_for(data).freshness()
    newest = max(
        datetime.fromisoformat(r.max_event_time.replace("Z", "+00:00")) for r in reports if r.max_event_time
    )
    assert fresh.events_up_to == newest.astimezone(UTC)
    assert fresh.runs == len(reports)


def test_a_broken_report_is_skipped_and_named(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "run-20261127.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "reports" / "run-20261126.json").write_text(json.dumps({"events_in": 5}), encoding="utf-8")
    store = RunStore(LocalStorage(tmp_path))
    runs = store.runs()
    assert [(r.run_id, r.events_in) for r in runs] == [("run-20261126", 5)]
    assert len(store.problems) == 1 and "run-20261127.json" in store.problems[0]


def test_s3_storage_reads_the_same_layout(etl_dir):
    data, _ = etl_dir
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="audit")
        for folder in ("reports", "quarantine"):
            for f in (data / folder).iterdir():
                s3.put_object(Bucket="audit", Key=f"prod/{folder}/{f.name}", Body=f.read_bytes())
        remote = store_for("s3://audit/prod", s3_client=s3)
        assert isinstance(remote.storage, S3Storage)
        local = store_for(data)
        assert remote.runs() == local.runs()
        assert remote.quarantine() == local.quarantine()
        assert remote.freshness() == local.freshness()


def test_s3_errors_become_skipped_files_named_by_their_s3_location():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="audit")
        storage = S3Storage(s3, "audit", "prod")
        missing = "cannot read s3://audit/prod/reports/run-20261127.json: .*NoSuchKey"
        with pytest.raises(OSError, match=missing):
            storage.read_text("reports/run-20261127.json")
        good = json.dumps({"run_id": "run-20261126", "events_in": 5})
        s3.put_object(Bucket="audit", Key="prod/reports/run-20261126.json", Body=good.encode())
        listed = [{"Key": "prod/reports/run-20261127.json"}, {"Key": "prod/reports/run-20261126.json"}]
        with Stubber(s3) as stub:  # the listing names a report that cannot be read (permissions)
            stub.add_response("list_objects_v2", {"Contents": listed, "IsTruncated": False})
            stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
            stub.add_response("get_object", {"Body": _body(good)})
            store = RunStore(storage)
            runs = store.runs()
    assert [(r.run_id, r.events_in) for r in runs] == [("run-20261126", 5)]
    assert len(store.problems) == 1
    problem = store.problems[0]
    assert "s3://audit/prod/reports/run-20261127.json" in problem and "AccessDenied" in problem


def test_a_skipped_report_is_named_once_however_often_it_is_read(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "run-20261127.json").write_text("[1]", encoding="utf-8")
    store = RunStore(LocalStorage(tmp_path))
    store.freshness()
    store.runs(limit=30)
    assert store.problems == ["reports/run-20261127.json: not a JSON object"]


def _body(text: str):
    import io

    from botocore.response import StreamingBody

    data = text.encode()
    return StreamingBody(io.BytesIO(data), len(data))
