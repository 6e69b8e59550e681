"""AppTest helpers for OIDC sign-in: an [auth] secrets section, a claim mapping file and a signed-in user."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "app-test-cookie-secret-0123456789abcdef",
    "client_id": "auditlog-explorer",
    "client_secret": "app-test-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
MAPPING = {
    "groups_claim": "groups",
    "groups": {
        "audit-all": {"sources": ["*"], "roles": ["pii", "operator"]},
        "support-orders": {"sources": ["shop.orders"]},
        "auditors": {"sources": ["*"], "roles": ["pii"]},
        "support-all": {"sources": ["*"]},
    },
}


def write_mapping(folder: Path, mapping: dict[str, Any] | None = None) -> Path:
    """The claim mapping file the explorer reads (AUDITLOG_AUTH_MAPPING)."""
    path = folder / "auth-mapping.json"
    path.write_text(json.dumps(MAPPING if mapping is None else mapping), encoding="utf-8")
    return path


def with_sign_in(at, mapping_path: Path, monkeypatch, **claims: Any):
    """Configure sign-in on an AppTest; with claims, the user is signed in with them (exp one hour ahead)."""
    monkeypatch.setenv("AUDITLOG_AUTH_MAPPING", str(mapping_path))
    at.secrets["auth"] = dict(AUTH)
    if claims:
        at.user = {"is_logged_in": True, "exp": int(time.time()) + 3600, **claims}
    else:
        at.user = {"is_logged_in": False}
    return at


#: Masking rules for the demo data: contact fields, addresses and people's names are personal.
DEMO_MASKING = {
    "*": {"fields": ["email", "phone", "address.*", "shipping_address.*"], "actor_name": True},
    "shop.users": {"entity_name": True},
}


def write_masking(folder: Path) -> Path:
    """The masking rules file (AUDITLOG_MASKING_RULES) for the demo data."""
    path = folder / "masking-rules.json"
    path.write_text(json.dumps(DEMO_MASKING), encoding="utf-8")
    return path
