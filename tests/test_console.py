"""etl/console.py, the human output of long commands: a bar and a boxed table on a terminal, short plain lines
in files, pipes and CI logs; and `auditlog demo` using both."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from auditlog.cli import main
from etl.console import is_interactive, print_table, progress


class FakeTerminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI", "GITHUB_ACTIONS", "BUILD_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm")


def test_plain_progress_prints_a_line_per_tenth_and_a_done_line() -> None:
    out = io.StringIO()
    with progress(1000, "etl", unit="rows", stream=out) as advance:
        for _ in range(100):
            advance(10)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["etl: 10% (100/1,000 rows)", "etl: 20% (200/1,000 rows)"]
    assert lines[-2] == "etl: 100% (1,000/1,000 rows)"
    assert lines[-1].startswith("etl: done, 1,000 rows in ")
    assert len(lines) == 11


def test_unknown_total_prints_only_the_done_line_and_a_failure_prints_no_done_line() -> None:
    out = io.StringIO()
    with progress(None, "scan", stream=out) as advance:
        advance(3)
        advance()
    assert out.getvalue().splitlines() == [out.getvalue().splitlines()[0]]
    assert out.getvalue().startswith("scan: done, 4 in ")
    out = io.StringIO()
    with pytest.raises(RuntimeError), progress(2, "scan", stream=out) as advance:
        advance()
        raise RuntimeError("boom")
    assert "done" not in out.getvalue()


def test_a_terminal_gets_a_bar_but_ci_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = FakeTerminal()
    assert is_interactive(tty)
    with progress(4, "demo", unit="events", stream=tty) as advance:
        for _ in range(4):
            advance()
    assert "━" in tty.getvalue() and "4/4" in tty.getvalue() and "\x1b[" in tty.getvalue()

    monkeypatch.setenv("CI", "true")
    tty = FakeTerminal()
    assert not is_interactive(tty)
    with progress(4, "demo", unit="events", stream=tty) as advance:
        advance(4)
    assert "━" not in tty.getvalue() and "demo: 100% (4/4 events)" in tty.getvalue()


def test_plain_table_aligns_columns_and_right_aligns_numbers() -> None:
    out = io.StringIO()
    rows = [["2026-11-27", 20000, 1.5, None], ["2026-11-28", 7, 0.25, "late"]]
    print_table("ETL runs", ["day", "events in", "seconds", "note"], rows, stream=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "ETL runs"
    assert lines[1].split() == ["day", "events", "in", "seconds", "note"]
    assert lines[2].split() == ["2026-11-27", "20,000", "1.5"]
    first, second = lines[2], lines[3]
    assert first.index("20,000") + len("20,000") == second.index("7") + 1  # right-aligned
    assert second.rstrip().endswith("late") and "None" not in out.getvalue()
    assert "─" not in out.getvalue() and "\x1b[" not in out.getvalue()


def test_a_terminal_gets_a_boxed_table() -> None:
    tty = FakeTerminal()
    print_table("Runs", ["day", "rows"], [["2026-11-27", 5]], stream=tty)
    text = tty.getvalue()
    assert "╭" in text and "Runs" in text and "2026-11-27" in text


def test_auditlog_demo_ends_with_a_summary_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--data-dir", str(tmp_path), "--days", "2", "--events-per-day", "300",
                 "--end-date", "2026-11-27", "--seed", "3"])
    out, err = capsys.readouterr()
    assert code == 0
    title = f"Wrote 600 events with event dates 2026-11-26 to 2026-11-27 into {tmp_path / 'raw'}"
    assert out.splitlines()[0] == title
    table = {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1] for line in out.splitlines()[2:]
             if line and not line.startswith("Sample")}
    assert table["events (what the ETL stores)"] == "600"
    files = len(list((tmp_path / "raw").rglob("*.json.gz")))
    assert table["raw files"] == str(files)
    assert err.splitlines()[-2] == "demo: 100% (600/600 events)"
    assert err.splitlines()[-1].startswith("demo: done, 600 events in ")
