"""scripts/system-deps.sh, which `make test` and `.ci/run` call first, run against fake dpkg-query, id and
apt-get on PATH: the machine's real Chromium and Java stay installed while the missing-package paths run."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "system-deps.sh"
PACKAGES = ["chromium", "openjdk-17-jre-headless", "make", "fonts-noto-cjk", "fonts-noto-color-emoji"]

FAKE_DPKG_QUERY = """#!/usr/bin/env bash
# Like dpkg-query -W -f='${Package} ${db:Status-Status}\\n' PKG...: FAKE_MISSING lists the absent ones,
# FAKE_UNKNOWN the ones the package database has never heard of (stderr + exit 1, as the real one does).
shift 2
rc=0
for pkg in "$@"; do
  if [[ " $FAKE_UNKNOWN " == *" $pkg "* ]]; then
    echo "dpkg-query: no packages found matching $pkg" >&2; rc=1
  elif [[ " $FAKE_MISSING " == *" $pkg "* ]]; then
    echo "$pkg not-installed"
  else
    echo "$pkg installed"
  fi
done
exit $rc
"""
FAKE_ID = '#!/usr/bin/env bash\necho "$FAKE_UID"\n'
FAKE_APT_GET = '#!/usr/bin/env bash\necho "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> "$FAKE_APT_LOG"\n'


@pytest.fixture()
def fake_bin(tmp_path: Path) -> Path:
    """A folder of fake tools that goes first on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, text in (("dpkg-query", FAKE_DPKG_QUERY), ("id", FAKE_ID), ("apt-get", FAKE_APT_GET)):
        path = folder / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def run(
    fake_bin: Path, *args: str, uid: int, missing: str = "", unknown: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run the script with the fakes first on PATH, as user `uid`, with `missing` packages absent."""
    env = {
        **os.environ,
        "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
        "FAKE_UID": str(uid),
        "FAKE_MISSING": missing,
        "FAKE_UNKNOWN": unknown,
        "FAKE_APT_LOG": str(fake_bin / "apt.log"),
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def apt_calls(fake_bin: Path) -> list[str]:
    """The apt-get command lines the fake recorded."""
    log = fake_bin / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("uid", [0, 1000])
def test_nothing_missing_is_a_silent_no_op(fake_bin: Path, uid: int) -> None:
    result = run(fake_bin, uid=uid)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert apt_calls(fake_bin) == []


def test_root_installs_only_the_missing_packages_after_one_update(fake_bin: Path) -> None:
    result = run(fake_bin, uid=0, missing="chromium fonts-noto-cjk")
    assert result.returncode == 0, result.stderr
    assert apt_calls(fake_bin) == [
        "apt-get update -q DEBIAN_FRONTEND=noninteractive",
        "apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk"
        " DEBIAN_FRONTEND=noninteractive",
    ]


def test_root_dry_run_prints_the_apt_get_lines_and_runs_nothing(fake_bin: Path) -> None:
    result = run(
        fake_bin, "--dry-run", uid=0, missing="openjdk-17-jre-headless", unknown="fonts-noto-color-emoji"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends openjdk-17-jre-headless fonts-noto-color-emoji",
    ]
    assert apt_calls(fake_bin) == []


def test_non_root_stops_at_once_and_prints_the_one_command_to_run(fake_bin: Path) -> None:
    result = run(fake_bin, uid=1000, missing="chromium make")
    assert result.returncode != 0
    assert apt_calls(fake_bin) == []
    assert "chromium make" in result.stderr
    command = result.stdout.strip()
    assert "\n" not in command
    assert command.startswith("sudo ")
    assert "apt-get install -y -q --no-install-recommends chromium make" in command
    assert "apt-get update" in command


def test_the_package_list_covers_browser_java_make_and_fonts(fake_bin: Path) -> None:
    result = run(fake_bin, "--dry-run", uid=0, missing=" ".join(PACKAGES))
    assert result.stdout.splitlines()[-1].split()[-len(PACKAGES):] == PACKAGES


def test_unknown_option_is_refused_with_the_usage(fake_bin: Path) -> None:
    result = run(fake_bin, "--install-everything", uid=0)
    assert result.returncode == 2
    assert "--dry-run" in result.stderr


def test_make_test_and_ci_run_call_the_script_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert test_rule.split(":", 1)[1].split()[0] == "system-deps"
    assert "scripts/system-deps.sh" in makefile
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [line for line in ci if line and not line.startswith(("#", "set ", "cd "))]
    assert steps[0].startswith("scripts/system-deps.sh") and steps[-1] == "make test"


def test_make_test_lints_and_type_checks_before_the_tests() -> None:
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("test:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip().split()[0].rsplit("/", 1)[-1])
    assert recipe == ["ruff", "mypy", "python"], recipe
