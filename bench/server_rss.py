"""Explorer server memory: a real `streamlit run serve.py` (as `make run` serves it) over a benchmark
table, driven through the query mix in headless Chromium (Search first page and three Next pages, entity
histories, correlations, Activity), then the server process's resident memory read from /proc (VmRSS now,
VmHWM the peak).

`python -m bench.server_rss [DAYS]` (default 365; the table is built or reused by bench.data.table).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb

from bench import data

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB (Linux /proc)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def _samples(folder: Path, day: str) -> tuple[list[str], list[str]]:
    """Five order ids and five correlation ids of `day` from the table itself."""
    files = str(folder / "analytics" / "auditlog" / f"dt={day}" / "*" / "*.parquet")
    con = duckdb.connect()
    orders = [r[0] for r in con.execute(
        "SELECT DISTINCT EntityId FROM read_parquet(?) WHERE EntityType = 'Order' ORDER BY 1 LIMIT 5", [files]
    ).fetchall()]
    corrs = [r[0] for r in con.execute(
        "SELECT DISTINCT CorrelationId FROM read_parquet(?) WHERE CorrelationId IS NOT NULL"
        " ORDER BY 1 LIMIT 5",
        [files],
    ).fetchall()]
    con.close()
    return orders, corrs


def run(days: int = 365, rounds: int = 3) -> dict[str, object]:
    """Start the server over the `days` table, drive the mix `rounds` times; return the memory figures."""
    from playwright.sync_api import sync_playwright

    folder = data.table(days)
    last = max(p.name.removeprefix("dt=") for p in (folder / "analytics" / "auditlog").glob("dt=*"))
    orders, corrs = _samples(folder, last)
    port = _free_port()
    env = {**os.environ, "AUDITLOG_DATA_DIR": str(folder), "AUDITLOG_ACCESS_LOG": "off",
           "AUDITLOG_CURSOR_SECRET": "bench"}
    env.pop("AUDITLOG_AUTH_MAPPING", None)
    cmd = [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.3)
        idle = _status_kb(proc.pid)
        started = time.perf_counter()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(60_000)

            def settle() -> None:
                page.wait_for_timeout(300)
                page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()

            for _ in range(rounds):
                page.goto(base + "/")
                settle()
                if not page.get_by_text("matching rows").count():  # the mix must really have read data
                    raise RuntimeError("the Search page showed no result count")
                for _ in range(3):
                    page.get_by_role("button", name="Next").click()
                    settle()
                for order in orders:
                    page.goto(f"{base}/entity?eid={order}")
                    settle()
                    if not page.get_by_text(f"Order {order}").count():
                        raise RuntimeError(f"the Entity page did not show order {order}")
                for corr in corrs:
                    page.goto(f"{base}/correlation?corr={corr}&from={last}&to={last}")
                    settle()
                page.goto(base + "/activity")
                settle()
            browser.close()
        after = _status_kb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return {
        "days": days,
        "rounds": rounds,
        "pages_per_round": 1 + 3 + len(orders) + len(corrs) + 1,
        "seconds": round(time.perf_counter() - started, 1),
        "rss_idle_mib": round(idle["VmRSS"] / 1024),
        "rss_after_mib": round(after["VmRSS"] / 1024),
        "rss_peak_mib": round(after["VmHWM"] / 1024),
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 365), indent=2))
