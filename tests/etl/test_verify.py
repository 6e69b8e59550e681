"""`auditlog verify` on a real history (local ETL, real Parquet): a clean one passes, each tampering is named.

Locally and on a moto S3 bucket holding the same files (versioned, as the template makes it).
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import boto3
import pytest
import rfc8785
from moto import mock_aws

from auditlog.cli import main
from etl import layout
from etl.local import run_all, run_etl
from etl.manifest import KEYS_PREFIX, LocalTree, S3Tree, latest_manifests, signed_message
from etl.signing import Ed25519Signer
from etl.verify import verify_tree
from tests.etl.conftest import make_event, write_raw

DAYS = [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)]


@pytest.fixture(scope="module")
def clean_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder, signing key): three days, then a re-run of the middle day with one more object."""
    root = tmp_path_factory.mktemp("history")
    data, key = root / "data", root / "key" / "signing.pem"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITLOG_SIGNING_KEY", str(key))
        for i, day in enumerate(DAYS):
            events = [make_event(100 * i + n, time=f"{day}T0{n % 9}:00:00.000Z") for n in range(40)]
            events += [make_event(100 * i + 99, time="2026-11-20T10:00:00.000Z"), "not json"]
            write_raw(data, datetime(day.year, day.month, day.day, 10), events)
        run_all(data, workers=2)
        write_raw(data, datetime(2026, 11, 26, 12), [make_event(999, time="2026-11-26T12:00:00.000Z")])
        run_etl(data, DAYS[1])
    return data, key


@pytest.fixture
def data(clean_history: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the clean history to tamper with."""
    copy = tmp_path / "copy"
    shutil.copytree(clean_history[0], copy)
    for p in copy.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return copy


def problems(data: Path, **kwargs) -> list[tuple[str, str]]:
    result = verify_tree(LocalTree(data), **kwargs)
    return [(p.kind, Path(p.file).relative_to(data).as_posix()) for p in result.problems]


def a_data_file(data: Path, day: str = "2026-11-27") -> str:
    return next(k for k, _ in LocalTree(data).list(layout.ANALYTICS_PREFIX) if f"dt={day}" in k)


def manifests(data: Path) -> list[str]:
    return [k for k, _, _ in latest_manifests(LocalTree(data))]


def test_a_clean_history_with_a_rerun_verifies(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = verify_tree(LocalTree(data))
    assert result.problems == []
    assert result.manifests == 4
    assert result.head is not None and result.head["seq"] == 4 and result.head["run_id"] == "run-20261126"
    assert result.files_checked > 10
    assert main(["verify", "--data-dir", str(data)]) == 0
    out = capsys.readouterr()
    assert "OK: 4 manifest(s)" in out.out and "verified up to run-20261126" in out.out
    assert "verify: files" in out.err, "progress goes to stderr"


def test_one_changed_byte_in_a_parquet_file_is_named(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = a_data_file(data)
    raw = bytearray((data / key).read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (data / key).write_bytes(bytes(raw))
    assert problems(data) == [("changed", key)]
    assert main(["verify", "--data-dir", str(data)]) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM changed: {data / key}" in out and "FAILED: 1 problem(s)" in out


def test_a_deleted_file_is_named(data: Path) -> None:
    key = a_data_file(data)
    (data / key).unlink()
    assert problems(data) == [("missing", key)]


def test_an_added_file_is_named(data: Path) -> None:
    extra = "analytics/auditlog/dt=2026-11-27/source=shop.orders/manual.parquet"
    shutil.copy(data / a_data_file(data), data / extra)
    assert problems(data) == [("unlisted", extra)]


def test_a_changed_raw_input_is_named(data: Path) -> None:
    key = next(k for k, _ in LocalTree(data).list(layout.raw_day_prefix(DAYS[0])))
    (data / key).write_bytes((data / key).read_bytes() + b"\n")
    assert problems(data) == [("changed", key)]
    assert problems(data, check_inputs=False) == []


def test_an_edited_manifest_is_named(data: Path) -> None:
    key = manifests(data)[1]
    doc = json.loads((data / key).read_text())
    doc["manifest"]["report"]["quarantined"] = 0
    (data / key).write_bytes(rfc8785.dumps(doc))
    found = problems(data)
    assert ("signature", key) in found
    assert ("chain", manifests(data)[2]) in found, "the next manifest no longer chains to it"


def test_a_deleted_manifest_is_named(data: Path) -> None:
    keys = manifests(data)
    (data / keys[1]).unlink()
    found = problems(data)
    assert ("missing-manifest", "manifests") in found
    assert ("chain", keys[2]) in found
    result = verify_tree(LocalTree(data))
    assert any(f"2..2 missing between {keys[0]} and {keys[2]}" in p.message for p in result.problems)


def test_two_swapped_manifests_are_named(data: Path) -> None:
    a, b = manifests(data)[:2]
    ta, tb = (data / a).read_bytes(), (data / b).read_bytes()
    (data / a).write_bytes(tb)
    (data / b).write_bytes(ta)
    found = problems(data)
    assert ("manifest-order", a) in found and ("manifest-order", b) in found


def test_a_manifest_resigned_with_another_key_is_named(data: Path, tmp_path: Path) -> None:
    key = manifests(data)[-1]
    doc = json.loads((data / key).read_text())
    other = Ed25519Signer.load_or_create(tmp_path / "other.pem")
    body = doc["manifest"]
    body["signer"] = {"key_id": other.key_id, "algorithm": other.algorithm}
    doc["signature"] = base64.b64encode(other.sign(signed_message(body))).decode()
    (data / key).write_bytes(rfc8785.dumps(doc))
    assert problems(data) == [("unknown-key", key)]
    # Publishing the other key beside the manifests does not help when the verifier pins the real one.
    (data / KEYS_PREFIX / "other.pem").write_bytes(other.public_pem)
    real = next((data / KEYS_PREFIX).glob("sha256-*.pem")).read_bytes()
    assert problems(data, public_keys=[real]) == [("unknown-key", key)]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_truncated_or_unreadable_manifest_is_reported_not_a_traceback(
    data: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = manifests(data)[2]
    text = (data / key).read_bytes()
    damaged = {"truncate": text[: len(text) // 2], "garbage": b"\xff\x00", "empty": b""}[damage]
    (data / key).write_bytes(damaged)
    found = problems(data)
    assert ("unreadable-manifest", key) in found
    assert main(["verify", "--data-dir", str(data)]) == 1
    assert "PROBLEM unreadable-manifest" in capsys.readouterr().out


def test_a_downloaded_copy_verifies_with_only_the_public_key(
    clean_history: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, key = clean_history
    copy = tmp_path / "download"
    shutil.copytree(data, copy)
    pub = tmp_path / "auditlog.pub.pem"
    pub.write_bytes(Ed25519Signer.load_or_create(key).public_pem)
    monkeypatch.setenv("AUDITLOG_SIGNING_KEY", str(tmp_path / "no-such-key.pem"))
    assert main(["verify", "--data-dir", str(copy), "--public-key", str(pub)]) == 0
    assert not (tmp_path / "no-such-key.pem").exists(), "verify never needs or creates a private key"


def test_from_and_to_limit_the_file_checks(data: Path) -> None:
    key = a_data_file(data, "2026-11-27")
    (data / key).write_bytes(b"changed")
    assert problems(data, date_from=DAYS[0], date_to=DAYS[1]) == []
    assert problems(data, date_from=DAYS[2]) == [("changed", key)]


def test_a_folder_without_manifests_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["verify", "--data-dir", str(tmp_path / "empty")]) == 1
    assert "no manifests" in capsys.readouterr().out


# --- The same on S3 (moto) ----------------------------------------------------------------------------------


def upload(folder: Path, s3, bucket: str, prefix: str = "") -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = prefix + path.relative_to(folder).as_posix()
            s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


@pytest.fixture
def bucket(data: Path, monkeypatch: pytest.MonkeyPatch):
    """A versioned moto bucket holding the clean history under data/."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="analytics", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket="analytics", VersioningConfiguration={"Status": "Enabled"})
        upload(data, s3, "analytics", "data/")
        yield s3


def s3_problems(s3) -> list[tuple[str, str]]:
    result = verify_tree(S3Tree("s3://analytics/data/", s3))
    return [(p.kind, p.file.removeprefix("s3://analytics/data/")) for p in result.problems]


def test_a_clean_history_verifies_on_s3(bucket, capsys: pytest.CaptureFixture[str]) -> None:
    assert s3_problems(bucket) == []
    assert main(["verify", "--s3", "s3://analytics/data/"]) == 0
    assert "OK: 4 manifest(s)" in capsys.readouterr().out


def test_tampering_on_s3_is_named(bucket, data: Path) -> None:
    changed, deleted = a_data_file(data, "2026-11-27"), a_data_file(data, "2026-11-25")
    bucket.put_object(Bucket="analytics", Key="data/" + changed, Body=b"PAR1 not the same")
    bucket.delete_object(Bucket="analytics", Key="data/" + deleted)
    bucket.put_object(Bucket="analytics", Key="data/reports/extra.json", Body=b"{}")
    manifest = next(k for k in manifests(data) if "run-20261126" in k)  # not the runs of the files above
    bucket.put_object(Bucket="analytics", Key="data/" + manifest, Body=b'{"manifest": ')
    found = s3_problems(bucket)
    assert ("changed", changed) in found
    assert ("missing", deleted) in found
    assert ("unlisted", "reports/extra.json") in found
    assert ("unreadable-manifest", manifest) in found


def sync(folder: Path, s3, bucket: str) -> None:
    """Make the bucket's current objects match the folder (changed ones put again, removed ones deleted)."""
    local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    remote = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    for key, body in local.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    for key in remote - set(local):
        s3.delete_object(Bucket=bucket, Key=key)  # under Object Lock: a delete marker, the version stays


def test_a_rerun_on_a_locked_bucket_keeps_replaced_files_as_superseded_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUDITLOG_SIGNING_KEY", str(tmp_path / "key.pem"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    folder, day = tmp_path / "data", DAYS[2]
    write_raw(folder, datetime(2026, 11, 27, 9), [make_event(1, time="2026-11-27T09:00:00.000Z")])
    billing = write_raw(
        folder,
        datetime(2026, 11, 27, 10),
        [make_event(2, time="2026-11-27T10:00:00.000Z", source="shop.billing")],
    )
    run_etl(folder, day)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket="locked",
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
            ObjectLockEnabledForBucket=True,
        )
        s3.put_object_lock_configuration(
            Bucket="locked",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
            },
        )
        sync(folder, s3, "locked")
        billing.unlink()  # the re-run no longer sees the billing object: its partition file goes away
        write_raw(folder, datetime(2026, 11, 27, 11), [make_event(3, time="2026-11-27T11:00:00.000Z")])
        run_etl(folder, day)
        sync(folder, s3, "locked")

        assert main(["verify", "--s3", "s3://locked/"]) == 0
        out = capsys.readouterr().out
        gone = "analytics/auditlog/dt=2026-11-27/source=shop.billing/run-20261127.parquet"
        replaced = "analytics/auditlog/dt=2026-11-27/source=shop.orders/run-20261127.parquet"
        first = "manifests/000001-run-20261127.json"
        note = f"superseded: s3://locked/{gone} (content listed by superseded {first})"
        assert f"{note}: 1 older version(s) kept, behind a delete marker" in out
        assert f"superseded: s3://locked/{replaced}" in out and "1 older version(s) kept, replaced" in out
        assert "PROBLEM" not in out and "OK: 2 manifest(s)" in out


def test_a_bucket_that_cannot_be_read_is_one_line_not_a_traceback(
    bucket, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--s3", "s3://no-such-bucket/"]) == 2
    err = capsys.readouterr().err
    assert "cannot read s3://no-such-bucket/" in err and "Traceback" not in err


def test_a_manifest_stripped_of_its_signature_is_named_once(data: Path) -> None:
    key = manifests(data)[0]
    doc = json.loads((data / key).read_text())
    del doc["signature"]
    (data / key).write_bytes(rfc8785.dumps(doc))
    found = problems(data)
    assert [f for f in found if f[1] == key] == [("signature", key)]
