"""Fixtures for the ETL tests: raw .json.gz objects laid out exactly as Firehose writes them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from etl import layout


def make_event(
    n: int,
    *,
    time: str = "2026-11-27T10:00:00.000Z",
    source: str = "shop.orders",
    entities: list[dict[str, Any]] | None = None,
    event_id: Any = "auto",
    **detail: Any,
) -> dict[str, Any]:
    """An EventBridge envelope for event number `n` with one entity (id n) unless `entities` is given."""
    body: dict[str, Any] = {
        "entity_type": "Order",
        "action": "Update",
        "correlation_id": f"corr-{n}",
        "actor": {"type": 1, "name": "alice"},
        "entities": entities
        if entities is not None
        else [{"entity": {"id": f"o-{n}", "name": f"Order {n}"}, "before": {"s": "a"}, "after": {"s": "b"}}],
    }
    if event_id == "auto":
        body["event_id"] = f"ev-{n}"
    elif event_id is not None:
        body["event_id"] = event_id
    body.update(detail)
    return {
        "version": "0",
        "id": f"env-{n}",
        "detail-type": "EntityChanged",
        "source": source,
        "account": "123456789012",
        "time": time,
        "region": "eu-west-1",
        "resources": [],
        "detail": body,
    }


def write_raw(
    data_dir: Path,
    arrival: datetime,
    records: list[dict[str, Any] | str] | bytes,
    *,
    name: str | None = None,
    newline: str = "\n",
) -> Path:
    """Write one gzip object under raw/year=/month=/day=/hour=/; dicts become one JSON line each."""
    if isinstance(records, bytes):
        data = records
    else:
        lines = [r if isinstance(r, str) else json.dumps(r, separators=(",", ":")) for r in records]
        data = "".join(line + newline for line in lines).encode()
    folder = data_dir / layout.raw_hour_prefix(arrival)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"auditlog-1-{arrival:%Y-%m-%d-%H-%M-%S}-0000.gz")
    path.write_bytes(gzip.compress(data))
    return path


@pytest.fixture
def raw_writer(tmp_path: Path) -> Callable[..., Path]:
    """write_raw bound to this test's data folder (tmp_path)."""
    return lambda *args, **kwargs: write_raw(tmp_path, *args, **kwargs)
