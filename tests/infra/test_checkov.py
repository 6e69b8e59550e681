"""checkov over both templates: no failed check, and every skipped one has its reason in the template.

checkov pins boto3 1.35, which conflicts with our pins, so `make test` installs it into its own venv
(.venv-checkov, from requirements-checkov.txt) and passes its path as $CHECKOV.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = os.environ.get("CHECKOV") or str(ROOT / ".venv-checkov" / "bin" / "checkov")

EXPECTED_SKIPS = {
    "template.yaml": {
        ("CKV_AWS_7", "AWS::KMS::Key.ManifestSigningKey"),
        ("CKV_AWS_18", "AWS::S3::Bucket.AccessLogsBucket"),
    },
    "explorer.yaml": {
        ("CKV_AWS_260", "AWS::EC2::SecurityGroup.LoadBalancerSecurityGroup"),
        ("CKV_AWS_91", "AWS::ElasticLoadBalancingV2::LoadBalancer.LoadBalancer"),
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SKIPS))
def test_checkov_finds_no_failed_check_and_every_skip_has_a_reason(name: str) -> None:
    assert Path(CHECKOV).is_file(), f"{CHECKOV} is missing: `make test` installs checkov into .venv-checkov"
    cmd = [CHECKOV, "-f", str(ROOT / "infra" / name), "--framework", "cloudformation", "--skip-download"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # no network here: do not fetch the guideline mapping
    proc = subprocess.run([*cmd, "-o", "json"], capture_output=True, text=True, timeout=600, env=env)
    report = json.loads(proc.stdout)
    results = report["results"]
    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert failed == [], failed
    skipped = {
        (c["check_id"], c["resource"]): c.get("check_result", {}).get("suppress_comment")
        for c in results["skipped_checks"]
    }
    assert set(skipped) == EXPECTED_SKIPS[name]
    assert all(reason and len(reason) > 20 for reason in skipped.values()), skipped
    assert results["passed_checks"], "checkov ran no check at all"
