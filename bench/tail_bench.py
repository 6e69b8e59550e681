"""Search and Entity latency with a not-yet-processed tail (issue 12, target within 1.5x of without): the
explorer's reads through its own client (AuditLogClient over DuckDBBackend with serve_tail=True, as
explorer/data.py builds it) over the `--days`-day bench table, A without a tail and B with `--tail` events
(default 10,000) waiting in today's raw folder, timed alternately A, B, A, B in one run.

Search = the default view's first page + its count (explorer.state.SearchFilters(), last 7 days); Entity =
one stored entity's history over the whole table. Results are not cached here (the explorer's cache key
carries the data version, so every newly landed object makes the next view a cold query like these);
B's tail file is the backend's own, built once per data version (timed separately as `tail_build_ms`).

`python -m bench.tail_bench [--rounds 15] [--days 365] [--events-per-day 10000] [--tail 10000]`
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from audit_query import AuditLogClient, QuerySettings
from audit_query.backends import backend_from_env
from bench import data
from bench.measure import percentile
from bench.watch_bench import put_events
from etl import layout
from explorer.state import SearchFilters

TARGET_RATIO = 1.5


def with_tail(base: Path, into: Path, events: int) -> Path:
    """`base`'s stored table (hard links) plus `events` raw events landed now in Firehose-sized objects."""
    shutil.copytree(base / layout.ANALYTICS_PREFIX, into / layout.ANALYTICS_PREFIX, copy_function=os.link)
    index = base / "analytics" / "entity_index"
    if index.is_dir():
        shutil.copytree(index, into / "analytics" / "entity_index", copy_function=os.link, dirs_exist_ok=True)
    for start in range(0, events, 1000):
        put_events(into, min(1000, events - start), start)
    return into


def client(data_dir: Path) -> AuditLogClient:
    """The explorer's local client over `data_dir` (serving the tail)."""
    return AuditLogClient(backend_from_env(data_dir=data_dir, serve_tail=True), QuerySettings.from_env())


def reads(c: AuditLogClient, days: int) -> dict[str, Callable[[], object]]:
    """The timed reads of one client: the Search default view and one entity's history."""
    sources = c.sources()
    today = datetime.now(UTC).date()
    q = SearchFilters().to_query(sources, c.settings.default_limit)
    start = today - timedelta(days=days - 1)
    stored = c.query(
        SearchFilters(range="custom", date_from=data.END_DATE, date_to=data.END_DATE).to_query(sources, 1)
    ).rows[0]
    eid = stored.EntityId
    return {
        "search": lambda: (c.query(q), c.count(q)),
        "entity": lambda: c.history(
            eid, include_children=True, date_from=start, date_to=today, sources=sources
        ),
    }


def run(rounds: int, days: int, events_per_day: int, tail: int) -> dict[str, object]:
    """Time each read `rounds` times on both folders, alternating; p50s and B/A ratios."""
    base = data.table(days, events_per_day)
    with tempfile.TemporaryDirectory() as tmp:
        tailed = with_tail(base, Path(tmp) / "tailed", tail)
        a, b = client(base), client(tailed)
        started = time.perf_counter()
        b.backend.tail_ids()  # type: ignore[attr-defined]  # builds B's tail file (once per data version)
        build_ms = (time.perf_counter() - started) * 1000
        served = len(b.backend.tail_ids())  # type: ignore[attr-defined]
        ra, rb = reads(a, days), reads(b, days)
        times: dict[str, list[float]] = {f"{k}_{s}": [] for k in ra for s in ("without", "with")}
        for fn in (*ra.values(), *rb.values()):  # warm
            fn()
        for _ in range(rounds):
            for name in ra:
                for side, fns in (("without", ra), ("with", rb)):
                    t = time.perf_counter()
                    fns[name]()
                    times[f"{name}_{side}"].append((time.perf_counter() - t) * 1000)
    out: dict[str, object] = {
        "days": days,
        "events_per_day": events_per_day,
        "tail_events": tail,
        "tail_rows_served": served,
        "tail_build_ms": round(build_ms),
        "rounds": rounds,
    }
    for name in ra:
        p_without = percentile(times[f"{name}_without"], 50)
        p_with = percentile(times[f"{name}_with"], 50)
        out[name] = {
            "p50_without_ms": round(p_without, 1),
            "p50_with_ms": round(p_with, 1),
            "ratio": round(p_with / p_without, 2),
            "target_ratio": TARGET_RATIO,
            "met": p_with / p_without <= TARGET_RATIO,
        }
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--events-per-day", type=int, default=10_000)
    ap.add_argument("--tail", type=int, default=10_000)
    args = ap.parse_args()
    print(json.dumps(run(args.rounds, args.days, args.events_per_day, args.tail), indent=2))
