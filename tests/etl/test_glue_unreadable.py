"""The Glue job's per-object reader (etl/glue_job.read_object) and its limit arguments, without Spark: an S3
raw object it may not read is one unreadable_object entry (the day goes on), a broken one gets the local
ETL's message, and the bounds are job arguments defaulting to EtlSettings'."""

from __future__ import annotations

import gzip
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from etl import glue_job
from etl.errors import ConfigurationError
from etl.raw import read_object_lines
from etl.rules import MESSAGES
from etl.settings import EtlSettings
from tests.etl.conftest import make_event

KEY = "raw/year=2026/month=11/day=27/hour=05/stream-1.gz"
URI = f"s3://raw-bucket/{KEY}"


def test_an_object_the_role_may_not_read_is_quarantined_not_a_failed_job() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_object", "AccessDenied", "Access Denied", 403)
        (entry,) = glue_job.read_object(URI, client=client)
    assert (entry.file, entry.reason, entry.records_read) == (KEY, "unreadable_object", 0)
    assert entry.message == f"{MESSAGES['unreadable_object']}: AccessDenied: Access Denied"


@mock_aws
def test_a_truncated_or_non_gzip_s3_object_gets_the_local_etls_reason_and_message() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="raw-bucket")
    good = "".join(json.dumps(make_event(i, note="n" * 300)) + "\n" for i in range(200)).encode()
    for content in (gzip.compress(good)[:1500], b"plain text, not gzip\n"):
        client.put_object(Bucket="raw-bucket", Key=KEY, Body=content)
        records = glue_job.read_object(URI, client=client)
        (entry,) = [r for r in records if r.line == -1]
        problem = read_object_lines(content, 1 << 30, 1 << 20).problem
        assert problem is not None
        assert entry.reason == problem.reason == "unreadable_object"
        assert entry.message == f"{MESSAGES['unreadable_object']}: {problem.error}"
        assert entry.records_read == problem.records_read == len([r for r in records if r.line != -1])


def test_the_limits_are_job_arguments_with_the_etl_defaults() -> None:
    assert glue_job.job_settings({}) == EtlSettings()
    bounds = glue_job.job_settings({"max_object_bytes": "1000", "max_record_bytes": "100"})
    assert (bounds.max_object_bytes, bounds.max_record_bytes) == (1000, 100)
    (entry,) = [
        r
        for r in glue_job.prepare_object(KEY, gzip.compress(b"x" * 5000), bounds)
        if r.reason == "object_too_large"
    ]
    assert "1,000 bytes" in entry.message
    for bad in ({"max_object_bytes": "lots"}, {"max_record_bytes": "0"}, {"max_rows": "5"}):
        with pytest.raises(ConfigurationError, match="--max_"):
            glue_job.job_settings(bad)
