"""Human output for long commands (issue 16 item 2): a progress bar and a summary table on a terminal, short
plain lines when the output is a file, a pipe or a CI log. A leaf module: it imports nothing of ours.

Two calls cover a command:

    with progress(total, "etl", unit="days") as advance:
        for day in days:
            ...
            advance()          # or advance(n)
    print_table("ETL runs", ["day", "events in", "rows out"], rows)

Not a terminal (here: doctest's captured output), so plain lines, one per tenth of the work:

>>> with progress(4, "demo", unit="events", stream=sys.stdout, clock=iter([0.0, 2.5]).__next__) as advance:
...     for _ in range(4):
...         advance()
demo: 25% (1/4 events)
demo: 50% (2/4 events)
demo: 75% (3/4 events)
demo: 100% (4/4 events)
demo: done, 4 events in 2.5 s
>>> print_table("Runs", ["day", "events in"], [["2026-11-27", 20000], ["2026-11-28", 7]], stream=sys.stdout)
Runs
day         events in
2026-11-27     20,000
2026-11-28          7
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Protocol

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "BUILD_NUMBER")
"""Set by CI systems: their logs get plain lines even when they emulate a terminal."""
PLAIN_WIDTH = 200
"""Line width for tables written to a file or pipe (wide enough that a row never wraps)."""



class Advance(Protocol):
    """What `progress` yields: call it with how many more steps are done (default one)."""

    def __call__(self, n: int = 1) -> None: ...


def is_interactive(stream: IO[str] | None = None) -> bool:
    """Whether `stream` (default stderr) is a terminal a person watches: a TTY, not CI, not TERM=dumb.

    >>> import io
    >>> is_interactive(io.StringIO())
    False
    """
    out = sys.stderr if stream is None else stream
    if any(os.environ.get(name) for name in CI_VARIABLES) or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


@contextmanager
def progress(
    total: int | None,
    label: str,
    *,
    unit: str = "",
    stream: IO[str] | None = None,
    interactive: bool | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Advance]:
    """Show progress of `total` steps named `label`; yields `advance(n=1)` to call as steps finish.

    On a terminal (`interactive`, default `is_interactive(stream)`) a bar with counts, elapsed and remaining
    time; otherwise a line each time another tenth is done and one at the end. `total` None means unknown
    (a spinner-less counter on a terminal, only the end line otherwise). Output goes to `stream`, default
    stderr, so a command's stdout stays its result.
    """
    out = sys.stderr if stream is None else stream
    shown_unit = f" {unit}" if unit else ""
    if interactive if interactive is not None else is_interactive(out):
        console = Console(file=out, force_terminal=True)
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(label, total=total)

            def advance_bar(n: int = 1) -> None:
                bar.advance(task, n)

            yield advance_bar
        return

    start = clock()
    state = {"done": 0, "tenth": 0}

    def advance_plain(n: int = 1) -> None:
        state["done"] += n
        if not total:
            return
        tenth = min(10, state["done"] * 10 // total)
        if tenth > state["tenth"] or state["done"] == total:
            state["tenth"] = tenth
            percent = min(100, state["done"] * 100 // total)
            print(f"{label}: {percent}% ({state['done']:,}/{total:,}{shown_unit})", file=out, flush=True)

    yield advance_plain
    took = _seconds(clock() - start)
    print(f"{label}: done, {state['done']:,}{shown_unit} in {took}", file=out, flush=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def print_table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    stream: IO[str] | None = None,
    interactive: bool | None = None,
) -> None:
    """Print `rows` under `headers` with `title` above: numbers right-aligned with thousands separators,
    None as empty. A boxed table on a terminal; plain aligned columns otherwise (default stream stdout)."""
    out = sys.stdout if stream is None else stream
    fancy = interactive if interactive is not None else is_interactive(out)
    columns = range(len(headers))
    numeric = [bool(rows) and all(_is_number(r[i]) or r[i] is None for r in rows) for i in columns]
    table = Table(
        box=box.ROUNDED if fancy else None,
        show_edge=fancy,
        pad_edge=fancy,
        header_style="bold" if fancy else "",
    )
    last = len(headers) - 1
    cells = [[_cell(v) for v in row] for row in rows]
    for i, (header, right) in enumerate(zip(headers, numeric, strict=True)):
        # On a narrow terminal only the last text column wraps: days, numbers and names stay whole.
        keep = not fancy or right or i < last
        widest = max([len(header.split()[-1]), *(len(r[i]) for r in cells)]) if keep else None
        label = header.replace(" ", "\n") if fancy else header  # two-word headers stack on a terminal
        table.add_column(label, justify="right" if right else "left", no_wrap=keep, min_width=widest)
    for row in cells:
        table.add_row(*row)
    if fancy:
        console = Console(file=out, force_terminal=True)
        console.print(Text(title, style="bold"))
        console.print(table)
        return
    console = Console(file=out, force_terminal=False, no_color=True, width=PLAIN_WIDTH, highlight=False)
    print(title, file=out)
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        print(line.rstrip(), file=out)
