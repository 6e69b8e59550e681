"""Entity page in the browser (issue 14 item 5): how long an entity with 250 changes over a year takes to
settle in headless Chromium against a real `streamlit run serve.py`, for two copies of the app in the same run
(by default the code before the compact change list, as `git archive` of BEFORE_COMMIT, and this worktree).

Also timed, as a floor: the same server's Entity page with no id (what any page costs to load and settle
on this machine). Settle = the entity's header is shown, the script state is notRunning and no skeleton
is left. Warm: each server loads the page once before the timed rounds (results cached, as for a user
coming back). The rounds alternate between the two servers so a busy machine slows both alike; the ratio
is after/before.

`python -m bench.entity_bench [--rounds N] [--days 365] [--events-per-day 10000]`
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from audit_events.contract import envelope_from_entry, make_detail, make_entity
from audit_events.sink import LocalFirehoseSink
from bench import data
from bench.measure import percentile
from etl import layout, local

REPO = Path(__file__).resolve().parents[1]
BEFORE_COMMIT = "36838bd"  # main as this branch started: every change as a full card, 50 at a time
BUSY_ID = "SKU-BENCH-250"
BUSY_CHANGES = 250
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def busy_table(days: int, events_per_day: int) -> Path:
    """The cached `days`-day bench table (hard links) plus one inventory item with BUSY_CHANGES updates
    spread over those days, written by the real local ETL (cached under bench/.cache/)."""
    base = data.table(days, events_per_day)
    target = data.CACHE / f"entity-{days}d-{events_per_day}"
    if (target / "DONE").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base / layout.ANALYTICS_PREFIX, target / layout.ANALYTICS_PREFIX, copy_function=os.link)
    shutil.copytree(
        base / "analytics" / "entity_index",
        target / "analytics" / "entity_index",
        copy_function=os.link,
        dirs_exist_ok=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        sink = LocalFirehoseSink(scratch)
        start = datetime.combine(data.END_DATE - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
        step = timedelta(days=days) / BUSY_CHANGES
        on_hand = 500
        for i in range(BUSY_CHANGES):
            before = {
                "sku": BUSY_ID,
                "on_hand": on_hand,
                "reserved": i % 7,
                "location": "A-12",
                "price": 19.9,
            }
            on_hand += -3 if i % 4 else 40
            after = {**before, "on_hand": on_hand, "reserved": (i + 1) % 7}
            entity = make_entity(BUSY_ID, "Bench widget", before=before, after=after)
            actor = ("warehouse-service", 0) if i % 3 else ("alice@example.com", 1)
            detail = make_detail(
                [entity],
                entity_type="InventoryItem",
                action="Update",
                correlation_id=f"req-bench-{i}",
                actor_name=actor[0],
                actor_type=actor[1],
            )
            when = start + step * i + timedelta(minutes=7)
            sink.put(
                envelope_from_entry(
                    {
                        "Source": "shop.inventory",
                        "DetailType": "StockChanged",
                        "Detail": json.dumps(detail),
                        "Time": when,
                    }
                )
            )
        sink.close()
        for day in local.raw_days(scratch):
            local.run_etl(scratch, day)
        for path in (scratch / "analytics").rglob("*.parquet"):
            dest = target / path.relative_to(scratch)
            assert not dest.exists(), dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    (target / "DONE").write_text("ok\n")
    return target


def before_copy(commit: str, into: Path) -> Path:
    """The app as of `commit` (git archive), to run beside this worktree's."""
    archive = into / "before.tar"
    subprocess.run(["git", "archive", "-o", str(archive), commit], cwd=REPO, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "before", filter="data")
    return into / "before"


@contextlib.contextmanager
def server(app_dir: Path, data_dir: Path, log: Path) -> Iterator[str]:
    """`streamlit run serve.py` (app.py for a commit before serve.py) from `app_dir` over `data_dir`;
    yields its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "AUDITLOG_DATA_DIR": str(data_dir),
        "AUDITLOG_CURSOR_SECRET": "bench",
        "AUDITLOG_ACCESS_LOG": "off",
        "PYTHONPATH": str(app_dir),
    }
    env.pop("AUDITLOG_USERS", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "serve.py" if (app_dir / "serve.py").exists() else "app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=app_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            import urllib.request

            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"streamlit did not start; see {log}") from None
                    time.sleep(0.3)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=20)


SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.dataset.testScriptState === 'notRunning'
    && !document.querySelector('[data-testid="stSkeleton"]');
}"""


def settle_ms(page, address: str, header: str) -> float:
    """Milliseconds from navigation to a settled page showing `header`."""
    started = time.perf_counter()
    page.goto(address)
    page.get_by_role("heading", name=header, exact=True).wait_for(timeout=60_000)
    page.wait_for_function(SETTLED, timeout=60_000, polling=20)
    return (time.perf_counter() - started) * 1000


def run(rounds: int, days: int, events_per_day: int) -> dict[str, object]:
    """Time the busy entity page on both servers; p50/p95 per server and the after/before ratio."""
    from playwright.sync_api import sync_playwright

    data_dir = busy_table(days, events_per_day)
    query = urlencode(
        {"eid": BUSY_ID, "from": str(data.END_DATE - timedelta(days=days - 1)), "to": str(data.END_DATE)}
    )
    header = f"InventoryItem {BUSY_ID}"
    times: dict[str, list[float]] = {"before": [], "after": [], "floor": []}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        dirs = {"before": before_copy(BEFORE_COMMIT, Path(tmp)), "after": REPO}
        bases = {k: stack.enter_context(server(d, data_dir, Path(tmp) / f"{k}.log")) for k, d in dirs.items()}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            pages = {k: browser.new_page(viewport={"width": 1500, "height": 1100}) for k in bases}
            for k, base in bases.items():  # warm: history cached, page compiled
                settle_ms(pages[k], f"{base}/entity?{query}", header)
                text = pages[k].get_by_text(" changes to ").first.inner_text()
                data.log(f"  {k}: {text}")
            settle_ms(pages["after"], f"{bases['after']}/entity", "Entity history")
            for i in range(rounds):
                for k in ("before", "after") if i % 2 == 0 else ("after", "before"):
                    times[k].append(settle_ms(pages[k], f"{bases[k]}/entity?{query}", header))
                # The floor: the same app's Entity page with no id (app shell, sidebar, form; no history).
                times["floor"].append(settle_ms(pages["after"], f"{bases['after']}/entity", "Entity history"))
            browser.close()
    out: dict[str, object] = {
        "days": days,
        "events_per_day": events_per_day,
        "changes": BUSY_CHANGES,
        "rounds": rounds,
    }
    for k, ts in times.items():
        out[k] = {
            "p50_ms": round(percentile(ts, 50)),
            "p95_ms": round(percentile(ts, 95)),
            "all_ms": [round(t) for t in ts],
        }
    out["ratio_p50_after_over_before"] = round(
        percentile(times["after"], 50) / percentile(times["before"], 50), 2
    )
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--events-per-day", type=int, default=10_000)
    args = ap.parse_args()
    print(json.dumps(run(args.rounds, args.days, args.events_per_day), indent=2))
