"""Deploy-time helpers (etl/deploy.py) against moto: script upload, job run start, waiting."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import Any

import boto3
import pytest
from moto import mock_aws

from etl import deploy

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        yield


def test_upload_puts_script_and_importable_etl_zip(aws: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    uris = deploy.upload_glue_artifacts(s3, "artifacts")
    assert uris == {
        "script": f"s3://artifacts/{deploy.DEFAULT_SCRIPT_KEY}",
        "extra_py_files": f"s3://artifacts/{deploy.DEFAULT_ZIP_KEY}",
    }
    script = s3.get_object(Bucket="artifacts", Key=deploy.DEFAULT_SCRIPT_KEY)["Body"].read()
    assert script == (deploy.ETL_DIR / "glue_job.py").read_bytes()
    body = s3.get_object(Bucket="artifacts", Key=deploy.DEFAULT_ZIP_KEY)["Body"].read()
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert sorted(names) == sorted(f"etl/{m}" for m in deploy.ETL_MODULES)
    assert "etl/local.py" not in names  # DuckDB is not in Glue


def test_upload_to_a_missing_bucket_fails(aws: Any) -> None:
    with pytest.raises(Exception, match="NoSuchBucket"):
        deploy.upload_glue_artifacts(boto3.client("s3", region_name=REGION), "no-such-bucket")


def _job(glue: Any) -> None:
    glue.create_job(
        Name="auditlog-etl",
        Role="arn:aws:iam::123456789012:role/glue",
        GlueVersion="5.0",
        Command={"Name": "glueetl", "ScriptLocation": "s3://artifacts/glue_job.py"},
        DefaultArguments={"--arrival_day": "yesterday", "--job-bookmark-option": "job-bookmark-disable"},
    )


def test_start_run_passes_the_arrival_day_and_wait_returns_success(aws: Any) -> None:
    glue = boto3.client("glue", region_name=REGION)
    _job(glue)
    run_id = deploy.start_etl_run(glue, "auditlog-etl", date(2026, 11, 27))
    run = glue.get_job_run(JobName="auditlog-etl", RunId=run_id)["JobRun"]
    assert run["Arguments"]["--arrival_day"] == "2026-11-27"
    sleeps: list[float] = []
    final = deploy.wait_for_run(glue, "auditlog-etl", run_id, poll_seconds=5, sleep=sleeps.append)
    assert final["JobRunState"] == "SUCCEEDED" and final["Id"] == run_id
    assert all(s == 5 for s in sleeps)


def test_start_run_without_day_uses_the_job_default(aws: Any) -> None:
    glue = boto3.client("glue", region_name=REGION)
    _job(glue)
    run_id = deploy.start_etl_run(glue, "auditlog-etl")
    assert (
        glue.get_job_run(JobName="auditlog-etl", RunId=run_id)["JobRun"]["Arguments"]["--arrival_day"]
        == "yesterday"
    )


class _FailingGlue:
    def get_job_run(self, **_: Any) -> dict[str, Any]:
        return {"JobRun": {"JobRunState": "FAILED", "ErrorMessage": "no raw .gz objects under s3://raw/..."}}


def test_wait_raises_with_the_glue_error_message() -> None:
    with pytest.raises(deploy.JobRunFailed, match="ended FAILED: no raw .gz objects"):
        deploy.wait_for_run(_FailingGlue(), "auditlog-etl", "jr_1", sleep=lambda _: None)


def test_deploy_workflow_uses_oidc_and_no_stored_keys() -> None:
    import yaml

    path = deploy.ETL_DIR.parent / ".github" / "workflows" / "deploy.yml"
    text = path.read_text(encoding="utf-8")
    wf = yaml.safe_load(text)
    assert wf["permissions"]["id-token"] == "write"
    steps = wf["jobs"]["deploy"]["steps"]
    (creds,) = [s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
    assert "role-to-assume" in creds["with"]
    assert "AWS_SECRET_ACCESS_KEY" not in text and "aws-access-key-id" not in text
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "cfn-lint infra/template.yaml" in runs and "aws s3 cp etl/glue_job.py" in runs
    assert "aws cloudformation deploy" in runs


def test_the_zip_holds_every_etl_module_the_glue_job_imports() -> None:
    """A module glue_job.py needs but the zip lacks would only fail inside Glue: follow the imports here."""
    import ast

    needed, todo = set(), ["glue_job"]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        tree = ast.parse((deploy.ETL_DIR / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("etl"):
                parts = node.module.split(".")
                todo += [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
    assert {f"{n}.py" for n in needed} <= set(deploy.ETL_MODULES)
