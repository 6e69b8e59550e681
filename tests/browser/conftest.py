"""A real explorer for browser tests: demo data + ETL in a temp folder, `streamlit run serve.py` on a free
port, and headless Chromium (the system one at /usr/bin/chromium; never downloaded) through Playwright."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit_events.contract import envelope_from_entry, make_detail, make_entity
from audit_events.demo import generate_demo
from audit_events.sink import LocalFirehoseSink
from audit_query import AuditLogClient, QuerySettings
from audit_query.backends.duckdb import DuckDBBackend
from etl.local import run_all

REPO = Path(__file__).resolve().parents[2]
SCREENS = REPO / "test-output" / "screens"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: A change whose id, name, actor and values hold bare URLs and e-mail addresses (Markdown would autolink
#: them) and formulas (a spreadsheet would run them).
PHISH_URL = "http://evil.example/login"
PHISH_MAIL = "boss@evil.example"
PHISH = {
    "entity_id": "www.evil.example",
    "name": f"Reset at {PHISH_URL} or write {PHISH_MAIL}",
    "actor": "phisher@evil.example",
    "correlation_id": "req-http://evil.example/c",
    "before": {"status": "new", "contact": PHISH_MAIL},
    "after": {"status": "paid", "contact": f"see {PHISH_URL}", "note": '=HYPERLINK("http://evil.example")'},
}
#: A change OLD_DAYS days back, beyond every default window (found only with dates typed in).
OLD_DAYS = 40
OLD_CORRELATION = "req-old-browser-1"


def put_change(
    data_dir: Path,
    when: datetime,
    entity_id: str,
    name: str,
    actor: str,
    correlation_id: str,
    before: dict,
    after: dict,
) -> None:
    """Write one Order update event as a raw Firehose object (arriving now), for the ETL to pick up."""
    entity = make_entity(entity_id, name, before=before, after=after)
    detail = make_detail(
        [entity], entity_type="Order", action="Update", correlation_id=correlation_id, actor_name=actor
    )
    entry = {
        "Source": "shop.orders",
        "DetailType": "OrderUpdated",
        "Detail": json.dumps(detail),
        "Time": when,
    }
    sink = LocalFirehoseSink(data_dir)
    sink.put(envelope_from_entry(entry))
    sink.close()


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("browser-data")
    now = datetime.now(UTC)
    summary = generate_demo(data_dir, days=3, events_per_day=1500, end_date=now.date(), seed=5)
    put_change(data_dir, now - timedelta(minutes=2), **PHISH)
    put_change(
        data_dir,
        now - timedelta(days=OLD_DAYS),
        "old-browser-order",
        "an old order",
        "old@example.com",
        OLD_CORRELATION,
        {"status": "new"},
        {"status": "paid"},
    )
    run_all(data_dir)
    return data_dir, summary


@contextlib.contextmanager
def running_explorer(
    data_dir: Path,
    log_dir: Path,
    *,
    port: int | None = None,
    args: tuple[str, ...] = (),
    health_path: str = "_stcore/health",
    **env_vars: str,
):
    """`streamlit run serve.py` on `port` (default: a free one) over `data_dir`, with extra command-line
    `args`; yields the base URL, stops the server after."""
    port = port or free_port()
    log_path = log_dir / f"streamlit-{port}.log"
    env = {**os.environ, "AUDITLOG_DATA_DIR": str(data_dir), "AUDITLOG_CURSOR_SECRET": "browser-tests"}
    env.pop("AUDITLOG_AUTH_MAPPING", None)
    env.update(env_vars)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "serve.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
                *args,
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/{health_path}", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start (exit {proc.poll()}); see {log_path}")
                time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def server(demo_data, tmp_path_factory):
    """The base URL of a running explorer over the demo data (no sign-in); stopped after the session."""
    with running_explorer(demo_data[0], tmp_path_factory.mktemp("streamlit")) as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


@pytest.fixture
def lib(demo_data):
    """The library over the same data, with the server's cursor secret."""
    client = AuditLogClient(DuckDBBackend(demo_data[0]), QuerySettings(cursor_secret=b"browser-tests"))
    yield client
    client.close()


def screenshot(pg, name: str) -> Path:
    """Save a full-page screenshot under test-output/screens/."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def wait_idle(pg) -> None:
    """Wait until the app's script run has finished (Streamlit marks stApp with its script state) and
    every widget is drawn (a widget whose code is still loading shows a skeleton in its place)."""
    pg.wait_for_timeout(250)  # let a just-triggered rerun start
    pg.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=30_000)
    pg.locator('[data-testid="stSkeleton"]').first.wait_for(state="detached", timeout=30_000)
    pg.wait_for_timeout(150)


def url(pg) -> str:
    """The current address (Playwright's page.url can lag behind Streamlit's history updates)."""
    return str(pg.evaluate("location.href"))


def more_header(pg, text: str = "More filters"):
    """The header of Search's "More filters" section, holding `text` (click it to open or close it)."""
    return pg.locator('[data-testid="stExpander"] summary').filter(has_text=text)


def open_more_filters(pg) -> None:
    """Click Search's "More filters" header and wait for the section's fields (drawn only once open)."""
    more_header(pg).click()
    pg.get_by_label("Actor contains").wait_for()
    wait_idle(pg)
