"""`auditlog demo` and `auditlog ingest` through the real dispatcher."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from audit_events.contract import make_detail
from auditlog.cli import main
from etl.layout import DATA_DIR_ENV


def stored(root: Path) -> list[dict[str, Any]]:
    """Every record under raw/, in file then line order."""
    out = []
    for path in sorted(root.glob("raw/year=*/month=*/day=*/hour=*/*.json.gz")):
        out.extend(json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines())
    return out


def detail(n: int, **changes: Any) -> dict[str, Any]:
    d = make_detail(
        [{"entity": {"id": f"1000{n}", "name": f"Order #{n}"},
          "after": {"status": "pending", "note": "Zoë"}}],
        entity_type="Order", action="Create", correlation_id=f"req-{n}", actor_name="order-service",
        event_id=f"e-{n}",
    )
    d.update(changes)
    return d


def envelope(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "version": "0", "id": f"id-{n}", "detail-type": "OrderChanged", "source": "shop.orders",
        "account": "000000000000", "time": "2026-11-27T10:15:00.123Z", "region": "local", "resources": [],
        "detail": detail(n, **changes),
    }


def test_demo_writes_raw_files_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--data-dir", str(tmp_path), "--days", "2", "--events-per-day", "300",
                 "--end-date", "2026-11-27", "--seed", "3"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "Wrote 600 events" in out and "2026-11-26 to 2026-11-27" in out and "Sample order ids: 1000" in out
    assert "100% (600/600 events)" in err
    records = stored(tmp_path)
    assert len(records) >= 600
    assert any(r.get("source") == "shop.orders" for r in records if isinstance(r, dict))


def test_demo_uses_the_data_dir_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert main(["demo", "--days", "1", "--events-per-day", "20", "--end-date", "2026-11-27"]) == 0
    assert list((tmp_path / "from-env").glob("raw/year=2026/month=11/day=27/hour=*/*.json.gz"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "argument --days: must be at least 1, got 0"),
        (["--events-per-day", "many"], "argument --events-per-day: must be a whole number"),
        (["--end-date", "27.11.2026"], "argument --end-date: must be a date written YYYY-MM-DD"),
    ],
)
def test_demo_rejects_bad_arguments(args: list[str], message: str, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--data-dir", str(tmp_path), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()


def test_ingest_json_lines_of_envelopes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = [envelope(1), envelope(2)]
    src = tmp_path / "events.jsonl"
    src.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in events) + "\n\n", encoding="utf-8")
    assert main(["ingest", "--data-dir", str(tmp_path / "data"), str(src)]) == 0
    assert stored(tmp_path / "data") == events
    assert "2 accepted, 0 rejected" in capsys.readouterr().err


def test_ingest_a_json_array(tmp_path: Path) -> None:
    events = [envelope(1), envelope(2), envelope(3)]
    src = tmp_path / "events.json"
    src.write_text(json.dumps(events, indent=2), encoding="utf-8")
    assert main(["ingest", "--data-dir", str(tmp_path / "data"), str(src)]) == 0
    assert stored(tmp_path / "data") == events


def test_ingest_put_events_entries_become_envelopes(tmp_path: Path) -> None:
    entries = [
        {"Source": "shop.orders", "DetailType": "OrderChanged", "Detail": json.dumps(detail(1))},
        {"Source": "shop.users", "DetailType": "UserChanged", "Detail": json.dumps(detail(2)),
         "Time": "2026-11-27T09:00:00Z"},
    ]
    src = tmp_path / "entries.jsonl"
    src.write_text("\n".join(json.dumps(e) for e in entries), encoding="utf-8")
    assert main(["ingest", "--data-dir", str(tmp_path / "data"), str(src)]) == 0
    first, second = stored(tmp_path / "data")
    assert (first["source"], first["detail-type"]) == ("shop.orders", "OrderChanged")
    assert first["detail"] == detail(1)
    assert (second["source"], second["time"]) == ("shop.users", "2026-11-27T09:00:00.000Z")
    assert second["detail"] == detail(2)
    assert first["id"] != second["id"]


def test_ingest_reads_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(envelope(7)) + "\n"))
    assert main(["ingest", "--data-dir", str(tmp_path), "-"]) == 0
    assert stored(tmp_path) == [envelope(7)]


def test_ingest_rejects_with_reasons_and_keeps_the_good(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_entities = envelope(4)
    no_entities["detail"]["entities"] = []
    bad_source = envelope(5)
    bad_source["source"] = "Shop/Orders"
    lines = [
        json.dumps(envelope(1)),
        json.dumps(envelope(2, action="Remove")),
        "{not json",
        json.dumps(no_entities),
        json.dumps(bad_source),
        json.dumps([1, 2]),
        json.dumps({"Source": "shop.orders", "DetailType": "X", "Detail": "[]"}),
        json.dumps(envelope(3)),
    ]
    src = tmp_path / "mixed.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["ingest", "--data-dir", str(tmp_path / "data"), str(src)]) == 1
    err = capsys.readouterr().err
    assert "line 2: rejected: detail.action: must be one of Create, Update, Delete, Read, Export" in err
    assert "line 3: rejected: not valid JSON" in err
    assert "line 4: rejected: detail.entities: must have at least 1 item (minItems)" in err
    assert "line 5: rejected: source: must match" in err
    assert "line 6: rejected: event: must be of type object, got array (type)" in err
    assert "line 7: rejected: Detail: must be a JSON object, got array (type)" in err
    assert "line 1:" not in err and "line 8:" not in err
    assert "2 accepted, 6 rejected" in err
    assert stored(tmp_path / "data") == [envelope(1), envelope(3)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("this is not json\nnor this\n", "is not JSON (line 1:"),
        ("", "is empty"),
        ("42", "holds one JSON int, not events"),
    ],
)
def test_ingest_unreadable_input_exits_2(content: str | None, message: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "input.jsonl"
    if content is not None:
        src.write_text(content, encoding="utf-8")
    assert main(["ingest", "--data-dir", str(tmp_path / "data"), str(src)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("auditlog ingest: error:") and message in err
    assert "JSON Lines" in err or "'-' for stdin" in err
    assert not (tmp_path / "data").exists()
