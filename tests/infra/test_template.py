"""infra/template.yaml: cfn-lint clean, every bucket locked down, Firehose/Glue/Athena settings as designed,
and the Athena table's columns generated from etl/schema.py (a drift fails here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from etl import athena
from etl.schema import COLUMNS, PARTITION_COLUMNS

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    tpl, errors = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert not errors, errors
    return tpl


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v.get("Properties", {}) for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_reports_nothing() -> None:
    # Same as the deploy workflow's `cfn-lint infra/template.yaml` (errors and warnings).
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    proc = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_every_bucket_is_encrypted_private_and_tls_only(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    assert set(buckets) == {
        "RawBucket",
        "AnalyticsBucket",
        "AthenaResultsBucket",
        "StagingBucket",
        "AccessLogsBucket",
    }
    policies = {
        p["Bucket"]["Ref"]: p["PolicyDocument"] for p in resources(template, "AWS::S3::BucketPolicy").values()
    }
    for name, props in buckets.items():
        sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
            "ServerSideEncryptionByDefault"
        ]
        assert sse["SSEAlgorithm"] in ("AES256", "aws:kms"), name
        assert all(props["PublicAccessBlockConfiguration"].values()), name
        assert len(props["PublicAccessBlockConfiguration"]) == 4, name
        deny = [s for s in policies[name]["Statement"] if s["Effect"] == "Deny"]
        assert any(
            s["Condition"]["Bool"]["aws:SecureTransport"] == "false" and s["Action"] == "s3:*" for s in deny
        )
    assert buckets["AnalyticsBucket"]["VersioningConfiguration"]["Status"] == "Enabled"


def test_raw_lifecycle_uses_the_parameters(template: dict[str, Any]) -> None:
    rule = resources(template, "AWS::S3::Bucket")["RawBucket"]["LifecycleConfiguration"]["Rules"][0]
    assert rule["Transitions"][0] == {
        "StorageClass": "GLACIER",
        "TransitionInDays": {"Ref": "RawTransitionToGlacierDays"},
    }
    assert rule["ExpirationInDays"] == {"Ref": "RawExpirationDays"}
    assert template["Parameters"]["RawTransitionToGlacierDays"]["Default"] == 30
    assert template["Parameters"]["RawExpirationDays"]["Default"] == 90


def test_firehose_gzip_newline_delimiter_and_arrival_time_prefixes(template: dict[str, Any]) -> None:
    (stream,) = resources(template, "AWS::KinesisFirehose::DeliveryStream").values()
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert s3["CompressionFormat"] == "GZIP"
    assert (
        s3["Prefix"]
        == "raw/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
    )
    assert s3["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/")
    assert s3["FileExtension"].endswith(".gz")  # the ETL reads only names ending in .gz
    (proc,) = s3["ProcessingConfiguration"]["Processors"]
    assert proc["Type"] == "AppendDelimiterToRecord"
    assert proc["Parameters"] == [{"ParameterName": "Delimiter", "ParameterValue": "\\n"}]
    assert s3["BufferingHints"] == {
        "IntervalInSeconds": {"Ref": "BufferIntervalSeconds"},
        "SizeInMBs": {"Ref": "BufferSizeMiB"},
    }
    assert (
        template["Parameters"]["BufferIntervalSeconds"]["Default"],
        template["Parameters"]["BufferSizeMiB"]["Default"],
    ) == (60, 5)


def test_rule_matches_source_prefix_with_dead_letter_queue_and_retries(template: dict[str, Any]) -> None:
    rule = resources(template, "AWS::Events::Rule")["StoreEventsRule"]
    assert rule["EventPattern"] == {"source": [{"prefix": {"Ref": "SourcePrefix"}}, "auditlog.explorer"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["DeliveryStream", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0


def test_glue_job_is_5_0_without_bookmarks_and_scheduled_daily(template: dict[str, Any]) -> None:
    (job,) = resources(template, "AWS::Glue::Job").values()
    assert job["GlueVersion"] == "5.0"
    assert job["DefaultArguments"]["--job-bookmark-option"] == "job-bookmark-disable"
    assert {"--raw_uri", "--data_uri", "--arrival_day", "--extra-py-files"} <= set(job["DefaultArguments"])
    trigger = resources(template, "AWS::Glue::Trigger")["GlueDailyTrigger"]
    assert trigger["Type"] == "SCHEDULED" and trigger["Schedule"] == {"Ref": "GlueSchedule"}
    assert "Condition" not in template["Resources"]["GlueDailyTrigger"]


def test_the_hourly_current_day_trigger_is_off_unless_asked_for(template: dict[str, Any]) -> None:
    assert template["Parameters"]["HourlyCurrentDayRun"]["Default"] == "false"
    equals = {"Fn::Equals": [{"Ref": "HourlyCurrentDayRun"}, "true"]}
    assert template["Conditions"]["RunCurrentDayHourly"] == equals
    hourly = template["Resources"]["GlueHourlyTrigger"]
    assert hourly["Condition"] == "RunCurrentDayHourly"
    props = hourly["Properties"]
    assert props["Type"] == "SCHEDULED" and props["Schedule"] == "cron(45 * * * ? *)"
    (action,) = props["Actions"]
    assert action["JobName"] == {"Ref": "GlueJob"} and action["Arguments"] == {"--arrival_day": "today"}


def test_the_explorer_may_read_only_the_raw_prefix_for_the_tail(template: dict[str, Any]) -> None:
    role = template["Resources"]["ExplorerRole"]["Properties"]
    by_sid = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    assert by_sid["ReadRawForTheTail"]["Action"] == "s3:GetObject"
    assert by_sid["ReadRawForTheTail"]["Resource"] == {"Fn::Sub": "${RawBucket.Arn}/raw/*"}
    assert by_sid["ListRawForTheTail"]["Condition"] == {"StringLike": {"s3:prefix": "raw/*"}}


def test_workgroup_enforces_cutoff_result_location_and_encryption(template: dict[str, Any]) -> None:
    (wg,) = resources(template, "AWS::Athena::WorkGroup").values()
    cfg = wg["WorkGroupConfiguration"]
    assert cfg["EnforceWorkGroupConfiguration"] is True
    assert cfg["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoffPerQuery"}
    assert cfg["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert "OutputLocation" in cfg["ResultConfiguration"]


def test_table_projection_as_designed(template: dict[str, Any]) -> None:
    table = resources(template, "AWS::Glue::Table")["AuditLogTable"]["TableInput"]
    params = table["Parameters"]
    assert params["projection.dt.type"] == "date" and params["projection.dt.format"] == "yyyy-MM-dd"
    assert params["projection.dt.interval"] == "1" and params["projection.dt.interval.unit"] == "DAYS"
    assert params["projection.source.type"] == "injected"
    assert "dt=${!dt}/source=${!source}/" in params["storage.location.template"]["Fn::Sub"]
    sd = table["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == athena.PARQUET_SERDE


def test_table_columns_and_partition_keys_follow_the_schema(template: dict[str, Any]) -> None:
    table = resources(template, "AWS::Glue::Table")["AuditLogTable"]["TableInput"]
    cols = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    parts = [(c["Name"], c["Type"]) for c in table["PartitionKeys"]]
    assert cols == [(c.name, c.athena_type) for c in COLUMNS], (
        "run: python -m etl.athena sync-template infra/template.yaml"
    )
    assert parts == [(c.name, c.athena_type) for c in PARTITION_COLUMNS]
    assert athena.sync_template_text(TEMPLATE.read_text(encoding="utf-8")) == TEMPLATE.read_text(
        encoding="utf-8"
    )


def test_sync_template_rewrites_a_drifted_block() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    drifted = text.replace("- Name: EventId\n", "- Name: EventIdentifier\n")
    assert drifted != text
    assert athena.sync_template_text(drifted) == text


def test_roles_are_scoped_to_their_resources(template: dict[str, Any]) -> None:
    roles = resources(template, "AWS::IAM::Role")
    for name, role in roles.items():
        for policy in role.get("Policies", []):
            for st in policy["PolicyDocument"]["Statement"]:
                actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
                assert not any(a.endswith(":*") or a == "*" for a in actions), (name, actions)
                if st["Resource"] == "*":
                    assert "Condition" in st, (name, st)
    firehose_put = roles["EventsToFirehoseRole"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert set(firehose_put["Action"]) == {"firehose:PutRecord", "firehose:PutRecordBatch"}
    explorer = [
        a
        for p in roles["ExplorerRole"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not any(a.startswith("s3:Delete") or a.startswith("glue:Create") for a in explorer)


def test_outputs_name_what_the_explorer_needs(template: dict[str, Any]) -> None:
    assert {
        "EventBusName",
        "EventBusArn",
        "RawBucketName",
        "AnalyticsBucketName",
        "AnalyticsS3Uri",
        "GlueDatabaseName",
        "AthenaTableName",
        "AthenaWorkGroupName",
        "AthenaOutputLocation",
        "ExplorerRoleArn",
        "GlueJobName",
    } <= set(template["Outputs"])


def test_analytics_bucket_is_object_locked_with_the_parameters(template: dict[str, Any]) -> None:
    buckets = resources(template, "AWS::S3::Bucket")
    analytics = buckets["AnalyticsBucket"]
    assert analytics["ObjectLockEnabled"] is True
    assert analytics["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": {"Ref": "ObjectLockMode"}, "Days": {"Ref": "ObjectLockDays"}}},
    }
    params = template["Parameters"]
    assert params["ObjectLockMode"]["AllowedValues"] == ["GOVERNANCE", "COMPLIANCE"]
    assert params["ObjectLockMode"]["Default"] == "GOVERNANCE" and params["ObjectLockDays"]["Default"] == 365
    locked = [name for name, props in buckets.items() if "ObjectLockConfiguration" in props]
    assert locked == ["AnalyticsBucket"], "staging and logs stay unlocked"
    for name, props in buckets.items():
        assert props["VersioningConfiguration"]["Status"] == "Enabled", name
        if name != "AccessLogsBucket":
            assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}, name


def test_glue_job_stages_outside_the_locked_bucket_and_signs_with_kms(template: dict[str, Any]) -> None:
    (job,) = resources(template, "AWS::Glue::Job").values()
    args = job["DefaultArguments"]
    assert args["--staging_uri"] == {"Fn::Sub": "s3://${StagingBucket}/"}
    assert args["--manifest_kms_key_id"] == {"Fn::GetAtt": ["ManifestSigningKey", "Arn"]}
    modules = dict(m.split("==") for m in args["--additional-python-modules"].split(","))
    pins = dict(
        line.split("==")
        for line in (TEMPLATE.parents[1] / "requirements.txt").read_text().splitlines()
        if "==" in line
    )
    assert modules == {name: pins[name] for name in ("rfc8785", "cryptography")}, "the Glue job runs our pins"
    assert job["SecurityConfiguration"] == {"Ref": "GlueSecurityConfiguration"}
    key = resources(template, "AWS::KMS::Key")["ManifestSigningKey"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    statements = {
        st["Sid"]: st
        for p in resources(template, "AWS::IAM::Role")["GlueJobRole"]["Policies"]
        for st in p["PolicyDocument"]["Statement"]
    }
    assert set(statements["SignManifests"]["Action"]) == {"kms:Sign", "kms:GetPublicKey"}
    assert statements["SignManifests"]["Resource"] == {"Fn::GetAtt": ["ManifestSigningKey", "Arn"]}
    manifests = [st for st in statements.values() if "manifests/" in str(st["Resource"])]
    assert manifests and all("s3:DeleteObject" not in st["Action"] for st in manifests), "append only"


def test_dead_letter_queue_and_log_group_use_the_data_key(template: dict[str, Any]) -> None:
    (queue,) = resources(template, "AWS::SQS::Queue").values()
    assert queue["KmsMasterKeyId"] == {"Ref": "DataKey"}
    (group,) = resources(template, "AWS::Logs::LogGroup").values()
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
    assert resources(template, "AWS::KMS::Key")["DataKey"]["EnableKeyRotation"] is True


def test_the_glue_job_bounds_are_stack_parameters_with_the_local_defaults(template: dict[str, Any]) -> None:
    """An operator sets the object/record bounds in the stack, not by editing the job; by default the Glue
    job quarantines exactly what the local ETL does."""
    from etl.glue_job import LIMIT_ARGUMENTS
    from etl.settings import EtlSettings

    (job,) = resources(template, "AWS::Glue::Job").values()
    defaults = EtlSettings()
    for name in LIMIT_ARGUMENTS:
        param = {"max_object_bytes": "EtlMaxObjectBytes", "max_record_bytes": "EtlMaxRecordBytes"}[name]
        assert job["DefaultArguments"][f"--{name}"] == {"Ref": param}
        assert int(template["Parameters"][param]["Default"]) == getattr(defaults, name)
