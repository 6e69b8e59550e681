"""The explorer on AWS, as far as it can be checked here: infra/explorer.yaml (cfn-lint, and the wiring a
person would get wrong), the Dockerfile (hadolint), and the container entrypoint run as Python. The image
itself cannot be built on these machines (no base-image registry), and nothing ran on AWS."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from etl.errors import ConfigurationError
from explorer.entrypoint import EntrypointSettings, main, prepare

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "infra" / "explorer.yaml"
PIPELINE = ROOT / "infra" / "template.yaml"
BIN = Path(sys.executable).parent


def load(path: Path) -> dict[str, Any]:
    tpl, errors = decode_str(path.read_text(encoding="utf-8"))
    assert not errors, errors
    return tpl


def test_cfn_lint_reports_nothing_on_the_explorer_stack() -> None:
    proc = subprocess.run([str(BIN / "cfn-lint"), str(STACK)], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_the_dockerfile_is_hadolint_clean_runs_as_non_root_and_checks_health() -> None:
    proc = subprocess.run([str(BIN / "hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "USER 10001" in text and "/_stcore/health" in text
    assert 'ENTRYPOINT ["python", "-m", "explorer.entrypoint"]' in text


def test_the_task_runs_as_the_explorer_role_with_its_secrets_from_secrets_manager() -> None:
    tpl = load(STACK)
    task = tpl["Resources"]["TaskDefinition"]["Properties"]
    assert task["TaskRoleArn"] == {"Ref": "ExplorerRoleArn"}
    (container,) = task["ContainerDefinitions"]
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    assert secrets == {
        "AUDITLOG_OIDC_CLIENT_SECRET": {"Ref": "OidcClientSecretArn"},
        "AUDITLOG_OIDC_COOKIE_SECRET": {"Ref": "CookieSecret"},
        "AUDITLOG_CURSOR_SECRET": {"Ref": "CursorSecret"},
    }
    env = {e["Name"] for e in container["Environment"]}
    # every variable the task sets is one the code reads (no typo silently ignored)
    known = {EntrypointSettings.variable(n) for n in EntrypointSettings.names()}
    known |= {"AUDITLOG_BACKEND", "AWS_REGION", "AUDITLOG_RUNS_LOCATION", "AUDITLOG_ACCESS_EVENT_BUS"}
    known |= {f"AUDITLOG_{n}" for n in ("ATHENA_DATABASE", "ATHENA_TABLE", "ATHENA_WORKGROUP")}
    known |= {"AUDITLOG_ATHENA_OUTPUT_LOCATION", "AUDITLOG_ANALYTICS_S3_URI"}
    assert env <= known, env - known
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"


def test_only_https_reaches_the_tasks_and_http_redirects() -> None:
    res = load(STACK)["Resources"]
    https = res["HttpsListener"]["Properties"]
    assert https["Protocol"] == "HTTPS" and https["Certificates"] == [
        {"CertificateArn": {"Ref": "CertificateArn"}}
    ]
    assert res["HttpListener"]["Properties"]["DefaultActions"][0]["Type"] == "redirect"
    ingress = res["ServiceSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert ingress == [
        {
            "IpProtocol": "tcp",
            "FromPort": 8501,
            "ToPort": 8501,
            "SourceSecurityGroupId": {"Ref": "LoadBalancerSecurityGroup"},
            "Description": "From the load balancer",
        }
    ]
    service = res["Service"]["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert service["AssignPublicIp"] == "DISABLED"
    assert res["TargetGroup"]["Properties"]["HealthCheckPath"] == "/_stcore/health"


def test_the_pipeline_role_lets_ecs_tasks_assume_it_and_stores_access_events() -> None:
    res = load(PIPELINE)["Resources"]
    trust = res["ExplorerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert any(s.get("Principal", {}).get("Service") == "ecs-tasks.amazonaws.com" for s in trust)
    statements = res["ExplorerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert any(s["Action"] == "events:PutEvents" for s in statements)
    assert "auditlog.explorer" in res["StoreEventsRule"]["Properties"]["EventPattern"]["source"]


ENV = {
    "AUDITLOG_OIDC_CLIENT_ID": "explorer",
    "AUDITLOG_OIDC_CLIENT_SECRET": 'se"cr\\et',
    "AUDITLOG_OIDC_METADATA_URL": "https://idp.example.com/.well-known/openid-configuration",
    "AUDITLOG_OIDC_REDIRECT_URI": "https://audit.example.com/oauth2callback",
    "AUDITLOG_OIDC_COOKIE_SECRET": "cookie-secret",
    "AUDITLOG_AUTH_MAPPING_JSON": json.dumps({"groups": {"ops": {"sources": ["*"], "roles": ["operator"]}}}),
    "AUDITLOG_MASKING_RULES_JSON": json.dumps({"*": {"fields": ["email"]}}),
}


def test_the_entrypoint_writes_owner_only_settings_and_serves_on_every_interface(tmp_path) -> None:
    argv, env = prepare({**ENV, "AUDITLOG_RUNTIME_DIR": str(tmp_path / "rt")})
    secrets = tmp_path / "rt" / "secrets.toml"
    auth = tomllib.loads(secrets.read_text(encoding="utf-8"))["auth"]
    assert auth == {
        "redirect_uri": "https://audit.example.com/oauth2callback",
        "cookie_secret": "cookie-secret",
        "client_id": "explorer",
        "client_secret": 'se"cr\\et',
        "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
    }
    for path in (secrets, Path(env["AUDITLOG_AUTH_MAPPING"]), Path(env["AUDITLOG_MASKING_RULES"])):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert json.loads(Path(env["AUDITLOG_AUTH_MAPPING"]).read_text())["groups"]["ops"]["roles"] == [
        "operator"
    ]
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("serve.py")
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0"
    assert argv[argv.index("--secrets.files") + 1] == str(secrets)
    assert "AUDITLOG_OIDC_CLIENT_SECRET" not in env and "AUDITLOG_OIDC_COOKIE_SECRET" not in env


def test_the_entrypoint_refuses_to_start_without_complete_sign_in(tmp_path, capsys, monkeypatch) -> None:
    partial = {k: v for k, v in ENV.items() if k != "AUDITLOG_OIDC_CLIENT_SECRET"}
    with pytest.raises(ConfigurationError, match="AUDITLOG_OIDC_CLIENT_SECRET"):
        prepare({**partial, "AUDITLOG_RUNTIME_DIR": str(tmp_path)})
    with pytest.raises(ConfigurationError, match="AUDITLOG_AUTH_MAPPING_JSON: not valid JSON"):
        prepare({**ENV, "AUDITLOG_AUTH_MAPPING_JSON": "{groups", "AUDITLOG_RUNTIME_DIR": str(tmp_path)})
    with pytest.raises(ConfigurationError, match="control characters"):
        prepare({**ENV, "AUDITLOG_OIDC_CLIENT_ID": "a\nb", "AUDITLOG_RUNTIME_DIR": str(tmp_path)})
    for key in list(os.environ):
        if key.startswith("AUDITLOG_OIDC_"):
            monkeypatch.delenv(key)
    assert main([]) == 2
    assert "the explorer container needs sign-in" in capsys.readouterr().err


def test_the_deploy_workflow_has_an_optional_explorer_job_with_oidc_credentials() -> None:
    import yaml

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text(encoding="utf-8"))
    job = wf["jobs"]["explorer"]
    assert job["needs"] == "deploy" and "deploy_explorer" in job["if"]
    assert wf[True]["workflow_dispatch"]["inputs"]["deploy_explorer"]["default"] is False  # yaml: on -> True
    steps = job["steps"]
    (creds,) = [s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
    assert "role-to-assume" in creds["with"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "hadolint Dockerfile" in runs and "cfn-lint infra/explorer.yaml" in runs
    assert "docker build" in runs and "--template-file infra/explorer.yaml" in runs
