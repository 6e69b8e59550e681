"""The demo generator writes realistic, deterministic raw data that exercises dedup, late data, quarantine."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit_events.contract import validate_event
from audit_events.demo import DemoSummary, generate_demo

END = date(2026, 11, 27)
DAYS = 3
PER_DAY = 1500
RAW_DIR = re.compile(r"^raw/year=(\d{4})/month=(\d{2})/day=(\d{2})/hour=(\d{2})$")
OBJECT_NAME = re.compile(r"^auditlog-1-\d{4}(-\d{2}){5}-[0-9a-f-]{36}\.json\.gz$")
ORDER_STEPS = {
    ("pending", "paid"), ("paid", "packed"), ("packed", "shipped"), ("shipped", "delivered"),
    ("pending", "cancelled"), ("paid", "cancelled"), ("pending", "pending"), ("paid", "paid"),
}


@dataclass
class Demo:
    summary: DemoSummary
    root: Path
    contents: dict[str, bytes]  # relative path -> decompressed bytes
    good: list[tuple[date, dict[str, Any]]] = field(default_factory=list)  # (arrival folder day, event)
    bad: list[bytes] = field(default_factory=list)


def raw_contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): gzip.decompress(p.read_bytes()) for p in root.rglob("*.gz")}


def read_demo(root: Path, summary: DemoSummary) -> Demo:
    demo = Demo(summary, root, {})
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(root)
        folder = RAW_DIR.match(rel.parent.as_posix())
        assert folder and OBJECT_NAME.match(path.name), rel
        data = gzip.decompress(path.read_bytes())
        demo.contents[rel.as_posix()] = data
        folder_day = date(*map(int, folder.groups()[:3]))
        for line in data.split(b"\n")[:-1]:
            try:
                event = json.loads(line)
            except ValueError:
                demo.bad.append(line)
                continue
            if validate_event(event):
                demo.bad.append(line)
            else:
                demo.good.append((folder_day, event))
    return demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo")
    calls: list[tuple[int, int]] = []
    summary = generate_demo(root, days=DAYS, events_per_day=PER_DAY, end_date=END, seed=7,
                            progress=lambda done, total: calls.append((done, total)))
    result = read_demo(root, summary)
    result.progress_calls = calls
    return result


def _utc_day(text: str) -> date:
    return datetime.fromisoformat(text).astimezone(UTC).date()


def distinct(demo: Demo) -> dict[str, dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for _, event in demo.good:
        first.setdefault(event["detail"]["event_id"], event)
    return first


def test_same_seed_same_files_other_seed_other_data(demo: Demo, tmp_path: Path) -> None:
    generate_demo(tmp_path / "a", days=DAYS, events_per_day=PER_DAY, end_date=END, seed=7)
    assert raw_contents(tmp_path / "a") == demo.contents
    generate_demo(tmp_path / "b", days=1, events_per_day=200, end_date=END, seed=8)
    generate_demo(tmp_path / "c", days=1, events_per_day=200, end_date=END, seed=7)
    assert raw_contents(tmp_path / "b") != raw_contents(tmp_path / "c")


def test_counts_match_what_was_written(demo: Demo) -> None:
    s = demo.summary
    events = distinct(demo)
    assert s.events == len(events) == DAYS * PER_DAY
    assert s.duplicates == len(demo.good) - len(events) > 0
    assert s.malformed == len(demo.bad) >= DAYS
    assert s.records == len(demo.good) + len(demo.bad)
    assert s.rows == sum(len(e["detail"]["entities"]) for e in events.values())
    assert s.files == len(demo.contents) == len(s.paths)
    assert Counter(_utc_day(e["time"]) for e in events.values()) == {
        date(2026, 11, 25): PER_DAY, date(2026, 11, 26): PER_DAY, date(2026, 11, 27): PER_DAY}
    times = sorted(datetime.fromisoformat(e["time"]) for e in events.values())
    assert (s.first_event_time, s.last_event_time) == (times[0], times[-1])
    assert (s.start_date, s.end_date) == (date(2026, 11, 25), END)
    assert demo.progress_calls[-1] == (DAYS * PER_DAY, DAYS * PER_DAY)
    assert [d for d, _ in demo.progress_calls] == sorted(d for d, _ in demo.progress_calls)


def test_redeliveries_keep_event_id_get_new_id_and_arrive_the_same_day_or_later(demo: Demo) -> None:
    copies: dict[str, list[tuple[date, dict[str, Any]]]] = defaultdict(list)
    for folder_day, event in demo.good:
        copies[event["detail"]["event_id"]].append((folder_day, event))
    repeated = [c for c in copies.values() if len(c) > 1]
    assert repeated
    for group in repeated:
        assert len({e["id"] for _, e in group}) == len(group)
        assert len({json.dumps(e["detail"], sort_keys=True) for _, e in group}) == 1
        assert len({day for day, _ in group}) == 1  # one ETL run sees both copies


def test_malformed_records_are_ones_the_etl_quarantines(demo: Demo) -> None:
    kinds = set()
    for line in demo.bad:
        try:
            event = json.loads(line)
        except ValueError:
            kinds.add("invalid_json")
            continue
        entities = event["detail"]["entities"]
        if not entities:
            kinds.add("no_entities")
        else:
            assert any("id" not in item["entity"] for item in entities)
            kinds.add("entity_without_id")
    assert "invalid_json" in kinds and len(kinds) >= 2


def test_some_events_arrive_on_a_later_day(demo: Demo) -> None:
    late = {e["detail"]["event_id"] for day, e in demo.good if day > _utc_day(e["time"])}
    assert late
    assert demo.summary.late >= len(late)  # folder = arrival of an object's oldest record, never later
    assert max(day for day, _ in demo.good) > END


def test_orders_have_children_and_a_realistic_life(demo: Demo) -> None:
    events = list(distinct(demo).values())
    created_orders = {
        item["entity"]["id"] for e in events if e["detail"]["entity_type"] == "Order"
        and e["detail"]["action"] == "Create" for item in e["detail"]["entities"]}
    assert all(re.fullmatch(r"\d{6}", oid) for oid in created_orders)
    items = [item for e in events if e["detail"]["entity_type"] == "OrderItem"
             for item in e["detail"]["entities"]]
    assert items
    for item in items:
        parent = item["parent"]
        assert parent["type"] == "Order" and item["entity"]["id"].startswith(f"{parent['id']}-")
        assert parent["name"]
    assert {item["parent"]["id"] for item in items} <= created_orders
    steps = {
        (e["detail"]["entities"][0]["before"]["status"], e["detail"]["entities"][0]["after"]["status"])
        for e in events if e["detail"]["entity_type"] == "Order" and e["detail"]["action"] == "Update"}
    assert {("pending", "paid"), ("paid", "packed"), ("packed", "shipped"), ("shipped", "delivered")} <= steps
    assert steps <= ORDER_STEPS
    assert set(demo.summary.sample_order_ids) <= created_orders and demo.summary.sample_order_ids


def test_variety_the_explorer_needs(demo: Demo) -> None:
    events = list(distinct(demo).values())
    assert {e["detail"]["actor"]["type"] for e in events} == {0, 1, 2}
    assert {"shop.orders", "shop.inventory", "shop.users", "shop.payments"} <= {e["source"] for e in events}
    assert {"Create", "Update", "Delete"} <= {e["detail"]["action"] for e in events}
    assert any(len(e["detail"]["entities"]) > 1 for e in events)
    entity_ids = [item["entity"]["id"] for e in events for item in e["detail"]["entities"]]
    assert any(isinstance(i, int) for i in entity_ids) and any(isinstance(i, str) for i in entity_ids)
    channels = {item.get("channel_code") for e in events for item in e["detail"]["entities"]}
    assert {"web", "ios", "android", "pos"} <= channels
    text = json.dumps(events, ensure_ascii=False)
    assert "ü" in text and "null" in text and "true" in text
    sources_per_correlation: dict[str, set[str]] = defaultdict(set)
    for e in events:
        sources_per_correlation[e["detail"]["correlation_id"]].add(e["source"])
    assert max(len(s) for s in sources_per_correlation.values()) >= 3
    for e in events:
        action = e["detail"]["action"]
        for item in e["detail"]["entities"]:
            has = ("before" in item, "after" in item)
            assert has == {"Create": (False, True), "Delete": (True, False), "Update": (True, True)}[action]


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="days"):
        generate_demo(tmp_path, days=0)
    with pytest.raises(ValueError, match="events_per_day"):
        generate_demo(tmp_path, events_per_day=0)
    assert list(tmp_path.iterdir()) == []


def test_local_etl_stores_exactly_the_events_the_summary_promises(tmp_path: Path) -> None:
    from etl.local import run_all

    summary = generate_demo(tmp_path, days=2, events_per_day=600, end_date=END, seed=11)
    run_all(tmp_path)
    reports = [json.loads(p.read_text()) for p in sorted((tmp_path / "reports").glob("run-*.json"))]
    total = Counter()
    for report in reports:
        total.update({k: report[k] for k in ("events_in", "events_stored", "quarantined",
                                             "duplicates_removed", "rows_out")})
    assert total == Counter(events_in=summary.records, events_stored=summary.events,
                            quarantined=summary.malformed, duplicates_removed=summary.duplicates,
                            rows_out=summary.rows)


def test_default_run_ends_now_with_nothing_from_the_future(tmp_path: Path) -> None:
    """`make run` generates "ending today": no event time and no arrival folder may lie after the clock."""
    before = datetime.now(UTC)
    summary = generate_demo(tmp_path, days=1, events_per_day=300, seed=3)
    after = datetime.now(UTC)
    demo = read_demo(tmp_path, summary)
    times = [datetime.fromisoformat(event["time"]) for _, event in demo.good]
    assert max(times) <= after
    assert min(times) >= before - timedelta(days=1, seconds=1)
    assert max(day for day, _ in demo.good) <= after.date()
    assert summary.start_date == min(times).astimezone(UTC).date()
