"""`make run` keeps one cursor secret in the data folder, so page links survive a restart (issue 14.7)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def fake_venv(tmp_path: Path) -> Path:
    """A venv whose auditlog does nothing and whose streamlit prints the cursor secret it was given."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "auditlog").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "streamlit").write_text('#!/bin/sh\necho "secret=$AUDITLOG_CURSOR_SECRET"\n')
    for name in ("auditlog", "streamlit"):
        (bin_dir / name).chmod(0o755)
    (bin_dir / ".installed-run").touch()
    os.utime(bin_dir / ".installed-run", (4_000_000_000, 4_000_000_000))  # newer than the requirements
    return tmp_path / "venv"


def run(venv: Path, data_dir: Path, **env: str) -> str:
    environ = {
        k: v for k, v in os.environ.items() if k not in ("AUDITLOG_CURSOR_SECRET", "AUDITLOG_DATA_DIR")
    }
    out = subprocess.run(
        ["make", "-s", "run", f"VENV={venv}", f"DATA_DIR={data_dir}"],
        cwd=REPO,
        env={**environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    (line,) = [x for x in out.splitlines() if x.startswith("secret=")]
    return line.removeprefix("secret=")


def test_make_run_keeps_one_owner_only_secret_in_the_data_folder(fake_venv: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "raw").mkdir(parents=True)
    (data_dir / "raw" / "x").touch()  # not empty: no demo data
    first = run(fake_venv, data_dir)
    assert len(first) == 64  # 32 random bytes, hex
    kept = data_dir / ".cursor-secret"
    assert kept.read_text() == first
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert run(fake_venv, data_dir) == first  # a restart signs with the same secret: old links still page
    assert run(fake_venv, data_dir, AUDITLOG_CURSOR_SECRET="set-by-operator") == "set-by-operator"
    assert kept.read_text() == first
