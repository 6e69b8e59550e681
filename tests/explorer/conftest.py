"""A small real data set (demo generator + local ETL, ending today) and an AppTest factory over app.py.

Beside the demo events the data holds two hand-made ones: a HOSTILE change whose ids and names are Markdown
and HTML (links, images, tags) and an OLD change OLD_DAYS days back (beyond every default window).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from audit_events.contract import envelope_from_entry, make_detail, make_entity
from audit_events.demo import generate_demo
from audit_events.sink import LocalFirehoseSink
from audit_query import AuditLogClient, QuerySettings
from audit_query.backends.duckdb import DuckDBBackend
from etl import layout
from etl.local import run_all

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"


LINK_MD = "[x](http://evil.example)"
IMAGE_MD = "![x](http://evil.example/p.png)"
HTML_TAGS = "<b>bold</b> <a href='http://evil.example'>click</a>"


@dataclass(frozen=True)
class Special:
    """A hand-made change: its entity id, parent id, correlation id, actor and entity name."""

    entity_id: str
    parent_id: str | None
    correlation_id: str
    actor: str
    name: str


HOSTILE = Special(
    entity_id=f"evil-{LINK_MD}",
    parent_id=f"evil-parent-{IMAGE_MD}",
    correlation_id=f"req-{LINK_MD}",
    actor=f"{HTML_TAGS}\n# {LINK_MD} {IMAGE_MD}",
    name=f"{LINK_MD}\n# {IMAGE_MD}",
)
OLD_DAYS = 60
OLD = Special("old-order-1", None, "req-old-1", "old@example.com", "an order from two months ago")


def put_special(data_dir: Path, s: Special, when: datetime) -> None:
    """Write one Order update event for `s` at `when` as a raw Firehose object (arriving now)."""
    parent = {"id": s.parent_id, "type": "Order"} if s.parent_id else None
    before, after = {"status": "new"}, {"status": "paid", "note": HTML_TAGS}
    entity = make_entity(s.entity_id, s.name, parent=parent, before=before, after=after)
    detail = make_detail(
        [entity], entity_type="Order", action="Update", correlation_id=s.correlation_id, actor_name=s.actor
    )
    entry = {"Source": "shop.orders", "DetailType": "OrderUpdated", "Detail": json.dumps(detail)}
    entry["Time"] = when
    sink = LocalFirehoseSink(data_dir)
    sink.put(envelope_from_entry(entry))
    sink.close()


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """3 days x 400 events ending today (UTC) plus HOSTILE (now) and OLD (OLD_DAYS ago), through the ETL;
    returns (data_dir, summary, reports)."""
    data_dir = tmp_path_factory.mktemp("explorer-data")
    now = datetime.now(UTC)
    summary = generate_demo(data_dir, days=3, events_per_day=400, end_date=now.date(), seed=11)
    put_special(data_dir, HOSTILE, now - timedelta(minutes=1))
    put_special(data_dir, OLD, now - timedelta(days=OLD_DAYS))
    reports = run_all(data_dir)
    return data_dir, summary, reports


@pytest.fixture
def lib(demo):
    """The library's own view of the same data (the expected results)."""
    client = AuditLogClient(DuckDBBackend(demo[0]), QuerySettings())
    yield client
    client.close()


@pytest.fixture
def app(demo, monkeypatch):
    """Make an AppTest of app.py over the demo data: app(page=None, **query_params) -> AppTest (not run)."""
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(demo[0]))
    monkeypatch.delenv("AUDITLOG_AUTH_MAPPING", raising=False)
    monkeypatch.delenv("AUDITLOG_MASKING_RULES", raising=False)
    monkeypatch.delenv("AUDITLOG_BACKEND", raising=False)
    monkeypatch.delenv("AUDITLOG_EXPORT_MAX_ROWS", raising=False)

    def make(page: str | None = None, **params: str | list[str]) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        if page is not None:
            at.run()
            at.switch_page(page)
        for k, v in params.items():
            at.query_params[k] = v
        return at

    return make


def open_more_filters(at: AppTest) -> AppTest:
    """Open Search's "More filters" section as a click on its header does (AppTest cannot click an
    expander): its open state set, the page run again, which draws the section's widgets."""
    at.session_state["s_more"] = True
    return at.run()


def texts(elements) -> list[str]:
    """The `.value` of every element of a list (errors, infos, captions, markdown)."""
    return [str(e.value) for e in elements]


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self.tags: list[str] = []
        self._open = 0

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)
        if tag in ("th", "td", "pre"):
            self._open += 1
            self.cells.append("")

    def handle_endtag(self, tag) -> None:
        if tag in ("th", "td", "pre"):
            self._open -= 1

    def handle_data(self, data) -> None:
        if self._open:
            self.cells[-1] += data


def html_cells(elements) -> list[str]:
    """The text a reader sees in each table cell and preformatted block of `st.html` elements."""
    out: list[str] = []
    for e in elements:
        parser = _Cells()
        parser.feed(e.value)
        out += parser.cells
    return out


def chart_rows(chart) -> list[dict]:
    """The rows of a Vega-Lite chart element's data (Streamlit sends them as Arrow beside the spec)."""
    return [r for d in chart.proto.datasets for r in pa.ipc.open_stream(d.data.data).read_all().to_pylist()]


def html_tags(elements) -> set[str]:
    """Every tag name in the bodies of `st.html` elements (data must never add one)."""
    out: set[str] = set()
    for e in elements:
        parser = _Cells()
        parser.feed(e.value)
        out |= set(parser.tags)
    return out


def widget(at: AppTest, kind: str, key: str):
    """The widget of `kind` ("text_input", "multiselect", ...) with key `key`."""
    return getattr(at, kind)(key=key)


@dataclass(frozen=True)
class Broken:
    """A copy of the demo data with one data file truncated (`file`, relative to `data_dir`, in partition
    dt/source, one that `entity_id`'s history reads) and one report that is not JSON (`bad_report`)."""

    data_dir: Path
    file: str
    dt: str
    source: str
    entity_id: str
    bad_report: str


@pytest.fixture(scope="session")
def broken(demo, tmp_path_factory):
    """The demo data with a truncated Parquet file and an unreadable run report (a Broken)."""
    data_dir = tmp_path_factory.mktemp("broken") / "data"
    shutil.copytree(demo[0], data_dir)
    with DuckDBBackend(demo[0]) as backend:
        client = AuditLogClient(backend, QuerySettings())
        for oid in demo[1].sample_order_ids:
            partitions = {(r.dt, r.source) for r in client.history(oid)}
            if len(partitions) > 1:
                break
        else:
            raise AssertionError("no sample order with changes in two partitions")
    dt, source = sorted(partitions)[0]
    folder = data_dir / layout.analytics_partition_prefix(date.fromisoformat(dt), source)
    path = sorted(folder.glob("*.parquet"))[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    bad_report = f"{layout.REPORTS_PREFIX}run-20000101.json"
    (data_dir / bad_report).write_text("{not json", encoding="utf-8")
    return Broken(data_dir, path.relative_to(data_dir).as_posix(), dt, source, oid, bad_report)
