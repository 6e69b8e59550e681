"""The shared adversarial input lists (../shared/testdata/sqli, beside the repository), read once for
every test that feeds hostile strings to a filter."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQLI_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata" / "sqli"


@cache
def sqli_lines() -> tuple[str, ...]:
    """Every distinct non-empty line of the lists, in file order (line ends removed, nothing else)."""
    files = sorted(SQLI_DIR.glob("*.txt"))
    assert files, f"no adversarial lists found in {SQLI_DIR}"
    lines: dict[str, None] = {}
    for f in files:
        for line in f.read_text(encoding="utf-8").split("\n"):
            line = line.removesuffix("\r")
            if line:
                lines.setdefault(line)
    return tuple(lines)
