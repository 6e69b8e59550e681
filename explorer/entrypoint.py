"""The explorer container's entrypoint: settings from the environment (ECS injects the secrets from Secrets
Manager as variables), written where Streamlit reads them, then `streamlit run serve.py` on every interface.

Streamlit's `st.login` reads the OIDC client from a secrets.toml file, not from the environment, so this
writes one (owner-only, outside the image's code folder) from AUDITLOG_OIDC_* variables; the claim mapping and
the masking rules arrive as JSON text and become files too. It refuses to start when sign-in is incomplete,
because the container listens on 0.0.0.0 (app.py refuses that without sign-in as well).

    python -m explorer.entrypoint            # what the Dockerfile runs
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from etl.errors import ConfigurationError
from etl.settings import Settings, setting

APP = Path(__file__).resolve().parents[1] / "serve.py"


@dataclass(frozen=True)
class EntrypointSettings(Settings):
    """What the container needs to start the explorer with sign-in."""

    oidc_client_id: str = setting("", "OIDC client id of the explorer (container entrypoint)")
    oidc_client_secret: str = setting("", "OIDC client secret (container entrypoint; from Secrets Manager)")
    oidc_metadata_url: str = setting(
        "", "the identity provider's .well-known/openid-configuration URL (container entrypoint)"
    )
    oidc_redirect_uri: str = setting(
        "", "the explorer's public URL + /oauth2callback, e.g. https://audit.example.com/oauth2callback"
    )
    oidc_cookie_secret: str = setting(
        "", "secret that signs the sign-in cookie (container entrypoint; from Secrets Manager)"
    )
    auth_mapping_json: str = setting(
        "",
        "the claim mapping as JSON text; the container entrypoint writes it to a file for "
        "AUDITLOG_AUTH_MAPPING",
    )
    masking_rules_json: str = setting(
        "",
        "the masking rules as JSON text; the container entrypoint writes it to a file for "
        "AUDITLOG_MASKING_RULES",
    )
    runtime_dir: str = setting(
        "/tmp/auditlog-explorer",
        "folder where the container entrypoint writes secrets.toml and the JSON files",
    )
    container_port: int = setting(8501, "port the explorer listens on inside the container")


REQUIRED = (
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_metadata_url",
    "oidc_redirect_uri",
    "oidc_cookie_secret",
)


def _toml_string(value: str) -> str:
    """A TOML basic string: JSON's escaping is valid TOML for these values (no control characters allowed)."""
    if any(ord(ch) < 0x20 for ch in value):
        raise ConfigurationError("OIDC settings may not contain control characters (a stray newline?)")
    return json.dumps(value, ensure_ascii=False)


def _write_private(path: Path, text: str) -> None:
    """Write `text` readable by this user only (created 0600, never world-readable for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)


def _json_file(folder: Path, name: str, text: str, var: str) -> Path:
    try:
        json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"{var}: not valid JSON ({exc})") from None
    path = folder / name
    _write_private(path, text)
    return path


def prepare(environ: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """Write the runtime files and return the command line and environment to run; ConfigurationError names
    every missing setting."""
    s = EntrypointSettings.from_env(environ)
    missing = [EntrypointSettings.variable(n) for n in REQUIRED if not getattr(s, n)]
    if missing:
        raise ConfigurationError(
            "the explorer container needs sign-in: set " + ", ".join(missing) + " (see infra/README.md)"
        )
    folder = Path(s.runtime_dir)
    env = dict(environ)
    secrets = folder / "secrets.toml"
    _write_private(
        secrets,
        "[auth]\n"
        f"redirect_uri = {_toml_string(s.oidc_redirect_uri)}\n"
        f"cookie_secret = {_toml_string(s.oidc_cookie_secret)}\n"
        f"client_id = {_toml_string(s.oidc_client_id)}\n"
        f"client_secret = {_toml_string(s.oidc_client_secret)}\n"
        f"server_metadata_url = {_toml_string(s.oidc_metadata_url)}\n",
    )
    if s.auth_mapping_json:
        var = EntrypointSettings.variable("auth_mapping_json")
        env["AUDITLOG_AUTH_MAPPING"] = str(_json_file(folder, "auth-mapping.json", s.auth_mapping_json, var))
    if s.masking_rules_json:
        var = EntrypointSettings.variable("masking_rules_json")
        rules = _json_file(folder, "masking-rules.json", s.masking_rules_json, var)
        env["AUDITLOG_MASKING_RULES"] = str(rules)
    for name in ("oidc_client_secret", "oidc_cookie_secret"):  # now in the file; not for child processes
        env.pop(EntrypointSettings.variable(name), None)
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        "0.0.0.0",  # the load balancer's target; sign-in is required (checked above and in app.py)
        "--server.port",
        str(s.container_port),
        "--server.headless",
        "true",
        "--secrets.files",
        str(secrets),
    ]
    return argv, env


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare and replace this process with the explorer; exit 2 with one line when misconfigured."""
    try:
        command, env = prepare(os.environ)
    except (ConfigurationError, OSError) as exc:
        print(f"explorer entrypoint: error: {exc}", file=sys.stderr)
        return 2
    os.execve(command[0], command, env)  # a fixed command line, no shell
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
