"""Manifests signed with an asymmetric KMS key (moto), written to S3 and by the Glue job; one verifier for
both engines (parity), on a folder and on a moto S3 bucket, with only public keys."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from etl import glue_job, layout, local
from etl.manifest import KEYS_PREFIX, LocalTree, S3Tree, latest_manifests, write_manifest
from etl.signing import KmsSigner, public_keys_from_pems, verify_signature
from etl.verify import verify_tree
from tests.etl.conftest import make_event, write_raw

DAYS = [date(2026, 11, 26), date(2026, 11, 27)]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        yield


def kms_key(spec: str = "ECC_NIST_P256") -> tuple[Any, str]:
    kms = boto3.client("kms", region_name="eu-west-1")
    key = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY", Description="auditlog manifests")
    return kms, key["KeyMetadata"]["Arn"]


def raw_history(data: Path) -> None:
    for i, day in enumerate(DAYS):
        events = [make_event(100 * i + n, time=f"{day}T0{n % 9}:00:00.000Z") for n in range(20)]
        events += [make_event(100 * i + 99, time="2026-11-20T10:00:00.000Z"), "not json"]
        write_raw(data, datetime(day.year, day.month, day.day, 10), events)


def upload(folder: Path, s3: Any, bucket: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.put_object(Bucket=bucket, Key=path.relative_to(folder).as_posix(), Body=path.read_bytes())


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
    ],
)
def test_a_kms_signature_verifies_offline_with_the_public_key(aws: None, spec: str, algorithm: str) -> None:
    kms, arn = kms_key(spec)
    signer = KmsSigner(kms, arn, algorithm)
    keys = public_keys_from_pems([signer.public_pem])
    sig = signer.sign(b"manifest digest")
    assert verify_signature(keys[signer.key_id], algorithm, b"manifest digest", sig)
    assert not verify_signature(keys[signer.key_id], algorithm, b"another digest", sig)


def test_manifests_written_to_s3_with_kms_verify_and_tampering_is_named(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The S3 write path: a run's outputs in a bucket, manifests appended there (If-None-Match), verify."""
    monkeypatch.setenv("AUDITLOG_SIGNING_KEY", str(tmp_path / "k.pem"))
    folder = tmp_path / "data"
    raw_history(folder)
    reports = local.run_all(folder, workers=1)
    shutil.rmtree(folder / "manifests")  # the bucket gets only the KMS-signed chain
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="analytics", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    upload(folder, s3, "analytics")
    kms, arn = kms_key()
    signer = KmsSigner(kms, arn)
    tree = S3Tree("s3://analytics/", s3)
    for report in reports:
        raw_keys = [k for k, _ in tree.list(layout.raw_day_prefix(date.fromisoformat(report.arrival_day)))]
        index_rows = pq.read_metadata(folder / report.index_file).num_rows
        write_manifest(tree, tree, report.to_dict(), raw_keys, signer, index_rows=index_rows)
    assert [k for k, _, _ in latest_manifests(tree)] == [
        "manifests/000001-run-20261126.json",
        "manifests/000002-run-20261127.json",
    ]
    assert tree.create("manifests/000001-run-20261126.json", b"{}") is False, "never rewritten in place"
    assert verify_tree(tree).problems == []
    key = reports[0].partitions[0]["file"]
    s3.put_object(Bucket="analytics", Key=key, Body=b"changed")
    assert [(p.kind, p.file) for p in verify_tree(tree).problems] == [("changed", f"s3://analytics/{key}")]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local SparkSession for the module (2 cores, 2 shuffle partitions, no UI)."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("manifest-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_glue_and_local_manifests_verify_with_the_same_verifier(
    aws: None, tmp_path: Path, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITLOG_SIGNING_KEY", str(tmp_path / "local-key.pem"))
    duck, glue = tmp_path / "duckdb", tmp_path / "spark"
    raw_history(duck)
    raw_history(glue)
    local.run_all(duck, workers=1)
    local.run_etl(duck, DAYS[0])  # a re-run
    kms, arn = kms_key()
    signer = KmsSigner(kms, arn)
    staging = tmp_path / "unlocked-staging"
    for day in [*DAYS, DAYS[0]]:
        glue_job.run_etl(spark, str(glue), f"file://{glue}", day, signer=signer, staging_root=str(staging))
    assert not [p for p in staging.rglob("*") if p.is_file()], "staged files all moved out"
    assert not (glue / glue_job.STAGING_PREFIX).exists(), "nothing staged under the (locked) data root"

    for folder in (duck, glue):
        result = verify_tree(LocalTree(folder))
        assert result.problems == [], folder.name
        assert result.manifests == 3 and result.head is not None and result.head["seq"] == 3

    def bodies(folder: Path) -> list[dict[str, Any]]:
        return [
            json.loads((folder / k).read_text())["manifest"]
            for k, _, _ in latest_manifests(LocalTree(folder))
        ]

    for d, g in zip(bodies(duck), bodies(glue), strict=True):
        assert (d["engine"], g["engine"], g["signer"]["algorithm"]) == ("duckdb", "spark", "ECDSA_SHA_256")
        for field in ("seq", "run_id", "arrival_day", "supersedes", "inputs"):
            assert d[field] == g[field], field
        assert {k: v for k, v in d["report"].items() if not k.endswith("_at")} == {
            k: v for k, v in g["report"].items() if not k.endswith("_at")
        }
        # The same files with the same rows (Parquet bytes differ: two writers).
        assert [(o["key"], o["rows"]) for o in d["outputs"] if o["key"].endswith(".parquet")] == [
            (o["key"], o["rows"]) for o in g["outputs"] if o["key"].endswith(".parquet")
        ]

    # The Glue folder copied to a bucket verifies on S3 with only the KMS public key.
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="copy", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    upload(glue, s3, "copy")
    pem = next((glue / KEYS_PREFIX).glob("*.pem")).read_bytes()
    assert verify_tree(S3Tree("s3://copy/", s3), public_keys=[pem]).problems == []
