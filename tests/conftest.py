"""Test-wide isolation: no test signs with (or creates) the user's real manifest signing key."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _signing_key_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every ETL run in the tests signs its manifests with a throwaway key (AUDITLOG_SIGNING_KEY), not
    ~/.config/auditlog/signing-key.pem; a test may still set its own."""
    var = "AUDITLOG_SIGNING_KEY"
    old = os.environ.get(var)
    os.environ[var] = str(tmp_path_factory.mktemp("signing-key") / "signing-key.pem")
    yield
    if old is None:
        os.environ.pop(var, None)
    else:
        os.environ[var] = old
