"""Every explorer page in the browser (issue 14 "Targets"): how long Search open, Next, Previous, the busy
Entity, Correlation, Activity and Pipeline take to settle in headless Chromium against a real
`streamlit run app.py` over the 365-day bench table (bench.entity_bench.busy_table: the year's demo table
plus an inventory item with 250 changes).

Settle = the page's heading is shown, the script state is notRunning and no skeleton is left; for Next and
Previous (a button click, no navigation) also the address bar's page cursor has changed. Warm: every view
is loaded once before the timed rounds (results cached, as for a user coming back). One server, one
browser tab; each round visits every view in the same order. Also timed, as the floor every page pays: the
Entity page with no id (app shell, sidebar and form; no query).

Also counted per view, because wall time on a shared machine mostly measures the other agents: the CPU time
the view cost (utime + stime from /proc) of the side's `streamlit run` process and of every Chromium
process (only one tab works at a time), with the `cpu_ms` p50 of their sum and its before/after ratio.

`python -m bench.browser_bench [--rounds N] [--days 365] [--events-per-day 10000] [--before COMMIT]`
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import data
from bench.entity_bench import (
    BUSY_CHANGES,
    BUSY_ID,
    CHROMIUM_ARGS,
    REPO,
    SETTLED,
    before_copy,
    busy_table,
    server,
)
from bench.measure import percentile

#: Issue 14's targets, in ms at p50 (every page open: 600; Next/Previous: 250; the busy entity: 1000).
TARGETS_MS = {
    "search_open": 600,
    "next": 250,
    "previous": 250,
    "entity_busy": 1000,
    "correlation": 600,
    "activity": 600,
    "pipeline": 600,
    "floor": None,
}


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _descendants(root: int) -> dict[int, tuple[str, float]]:
    """Every live process below `root`: pid -> (command line, CPU ms so far, utime + stime)."""
    parent: dict[int, int] = {}
    stats: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        stats[int(entry)] = (cmd, (int(fields[11]) + int(fields[12])) * _TICK_MS)
    out = {}
    for pid in stats:
        p = pid
        while p in parent and p != root:
            p = parent[p]
        if p == root and pid != root:
            out[pid] = stats[pid]
    return out


def _cpu(ports: dict[str, str]) -> dict[str, float]:
    """CPU ms so far: each side's server (found by its port in the command line) and all of Chromium."""
    out = {"browser": 0.0, **{side: 0.0 for side in ports}}
    for cmd, ms in _descendants(os.getpid()).values():
        side = next((s for s, port in ports.items() if "streamlit" in cmd and f" {port} " in cmd), None)
        if side is not None:
            out[side] += ms
        elif "chrom" in cmd.split(" ", 1)[0]:  # the browser, its renderers, GPU and network processes
            out["browser"] += ms
    return out


def _goto(page: Any, address: str, heading: str) -> float:
    started = time.perf_counter()
    page.goto(address)
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=60_000)
    page.wait_for_function(SETTLED, timeout=60_000, polling=20)
    return (time.perf_counter() - started) * 1000


def _click(page: Any, button: str) -> float:
    """Milliseconds from clicking `button` to a settled page whose URL (the page cursor) changed."""
    before = page.url
    target = page.get_by_role("button", name=button, exact=True)
    target.wait_for(timeout=60_000)
    started = time.perf_counter()
    target.click()
    page.wait_for_function(
        f"() => window.location.href !== {json.dumps(before)} && ({SETTLED})()", timeout=60_000, polling=20
    )
    return (time.perf_counter() - started) * 1000


def views(base: str, days: int) -> dict[str, Callable[[Any], float]]:
    """Each timed view: a function of the browser tab returning its settle time in ms."""
    end = data.END_DATE
    start = end - timedelta(days=days - 1)
    entity = urlencode({"eid": BUSY_ID, "from": str(start), "to": str(end)})
    # one of the busy item's requests (bench.entity_bench.busy_table spreads them over the days)
    i = BUSY_CHANGES * 4 // 5
    day = (start + timedelta(days=days) / BUSY_CHANGES * i).isoformat()[:10]
    corr = urlencode({"corr": f"req-bench-{i}", "from": day, "to": day})
    return {
        "search_open": lambda p: _goto(p, f"{base}/", "Search"),
        "next": lambda p: _click(p, "Next"),
        "previous": lambda p: _click(p, "Previous"),
        "entity_busy": lambda p: _goto(p, f"{base}/entity?{entity}", f"InventoryItem {BUSY_ID}"),
        "correlation": lambda p: _goto(p, f"{base}/correlation?{corr}", "Correlation"),
        "activity": lambda p: _goto(p, f"{base}/activity", "Activity"),
        "pipeline": lambda p: _goto(p, f"{base}/pipeline", "Pipeline"),
        "floor": lambda p: _goto(p, f"{base}/entity", "Entity history"),
    }


def run(rounds: int, days: int, events_per_day: int, before: str | None = None) -> dict[str, object]:
    """Time every view `rounds` times after one warm visit; p50/p95 per view against its target. With
    `before` (a commit), the app as of that commit is served too and timed alternately, view by view, in
    the same rounds (one tab each), and each view gets its before/after ratio."""
    from playwright.sync_api import sync_playwright

    data_dir = busy_table(days, events_per_day)
    sides = ["after", "before"] if before else ["after"]
    times: dict[str, dict[str, list[float]]] = {side: {k: [] for k in TARGETS_MS} for side in sides}
    cpu: dict[str, dict[str, list[float]]] = {side: {k: [] for k in TARGETS_MS} for side in sides}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        dirs = {"after": REPO}
        if before:
            dirs["before"] = before_copy(before, Path(tmp))
        bases = {
            side: stack.enter_context(server(dirs[side], data_dir, Path(tmp) / f"{side}.log"))
            for side in sides
        }
        timed = {side: views(bases[side], days) for side in sides}
        ports = {side: bases[side].rsplit(":", 1)[1] for side in sides}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            pages = {side: browser.new_page(viewport={"width": 1500, "height": 1100}) for side in sides}
            for side in sides:
                for name, fn in timed[side].items():  # warm
                    data.log(f"  warm {side} {name}: {fn(pages[side]):.0f} ms")
            for r in range(rounds):
                order = sides if r % 2 == 0 else sides[::-1]
                for name in TARGETS_MS:  # each tab's Previous follows its own Next
                    for side in order:
                        used = _cpu(ports)
                        times[side][name].append(timed[side][name](pages[side]))
                        now = _cpu(ports)
                        cpu[side][name].append(now["browser"] - used["browser"] + now[side] - used[side])
                data.log(f"  round {r + 1}/{rounds} done")
            browser.close()
    out: dict[str, object] = {"days": days, "events_per_day": events_per_day, "rounds": rounds}
    if before:
        out["before"] = before
    for name in TARGETS_MS:
        ts = times["after"][name]
        p50 = percentile(ts, 50)
        target = TARGETS_MS[name]
        row: dict[str, object] = {
            "p50_ms": round(p50),
            "p95_ms": round(percentile(ts, 95)),
            "target_p50_ms": target,
            "met": None if target is None else p50 <= target,
            "all_ms": [round(t) for t in ts],
            "cpu_p50_ms": round(percentile(cpu["after"][name], 50)),
        }
        if before:
            b50 = percentile(times["before"][name], 50)
            row["before_p50_ms"] = round(b50)
            row["ratio_after_before"] = round(p50 / b50, 2)
            c50 = percentile(cpu["before"][name], 50)
            row["before_cpu_p50_ms"] = round(c50)
            row["cpu_ratio_after_before"] = round(row["cpu_p50_ms"] / c50, 2) if c50 else None
        out[name] = row
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--events-per-day", type=int, default=10_000)
    ap.add_argument("--before", help="also serve the app as of this commit and time it alternately (A/B)")
    args = ap.parse_args()
    print(json.dumps(run(args.rounds, args.days, args.events_per_day, args.before), indent=2))
