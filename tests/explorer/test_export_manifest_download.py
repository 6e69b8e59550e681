"""The Search export offers the signed manifest beside the file (issue 11 item 5): both downloads, written to
disk as a user saves them, verify with `auditlog verify-export`; the manifest names the signed-in user."""

from __future__ import annotations

import json

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import app_test

from auditlog.cli import main as auditlog
from tests.explorer.signin import with_sign_in, write_mapping


@pytest.fixture
def media(monkeypatch):
    """One media store kept across AppTest runs, so a test can read what a download button hands over."""
    store = MemoryMediaFileStorage("/mock/media")
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", lambda endpoint: store)
    return store


def downloads(at, store: MemoryMediaFileStorage) -> dict[str, tuple[str, bytes]]:  # type: ignore[no-untyped-def]
    """{widget key: (file name, bytes)} of every download button on the page."""
    out = {}
    for button in at.get("download_button"):
        key = button.proto.id.rsplit("-", 1)[-1]
        file = store.get_file(button.proto.url.rsplit("/", 1)[-1])
        out[key] = (file.filename, file.content)
    return out


def _export(app, media, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    mapping = write_mapping(tmp_path)
    at = with_sign_in(app(), mapping, monkeypatch, email="carol@example.com", groups=["audit-all"])
    at.run()
    at.radio(key="export_format").set_value("jsonl")
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error
    return downloads(at, media)


def test_the_file_and_its_manifest_downloaded_from_search_verify(app, demo, media, monkeypatch, tmp_path):
    got = _export(app, media, monkeypatch, tmp_path)
    assert set(got) == {"export_download", "export_manifest_download"}
    (name, blob), (mname, mblob) = got["export_download"], got["export_manifest_download"]
    assert mname == name + ".manifest.json"
    body = json.loads(mblob)["manifest"]
    assert body["user"] == "carol@example.com", "the manifest names the signed-in user"
    assert body["rows"] == len(blob.splitlines()) > 0 and body["run_manifests"]
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / name).write_bytes(blob)
    (folder / mname).write_bytes(mblob)
    assert auditlog(["verify-export", str(folder / name), "--data-dir", str(demo[0])]) == 0


def test_a_changed_download_fails_verify_export(app, demo, media, monkeypatch, tmp_path, capsys):
    got = _export(app, media, monkeypatch, tmp_path)
    (name, blob), (mname, mblob) = got["export_download"], got["export_manifest_download"]
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / name).write_bytes(b" " + blob)  # one byte added
    (folder / mname).write_bytes(mblob)
    capsys.readouterr()
    assert auditlog(["verify-export", str(folder / name), "--data-dir", str(demo[0])]) == 1
    assert f"{folder / name}: changed" in capsys.readouterr().out


def test_a_download_made_while_events_wait_counts_them_in_its_manifest(media, monkeypatch, tmp_path):
    from datetime import UTC, datetime, timedelta

    from streamlit.testing.v1 import AppTest

    from etl.local import run_etl
    from tests.etl.conftest import make_event, write_raw
    from tests.explorer.conftest import APP

    data_dir = tmp_path / "data"
    now = datetime.now(UTC)
    stamp = [(now - timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%S.000Z") for m in (5, 2, 1)]
    write_raw(data_dir, now, [make_event(1, time=stamp[0])], name="a.json.gz")
    run_etl(data_dir, now.date())
    write_raw(data_dir, now, [make_event(2, time=stamp[1]), make_event(3, time=stamp[2])], name="b.json.gz")
    for var in ("AUDITLOG_MASKING_RULES", "AUDITLOG_BACKEND", "AUDITLOG_EXPORT_MAX_ROWS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(data_dir))
    mapping = write_mapping(tmp_path)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at = with_sign_in(at, mapping, monkeypatch, email="carol@example.com", groups=["audit-all"])
    at.run()
    at.radio(key="export_format").set_value("jsonl")
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error
    got = downloads(at, media)
    (name, blob), (mname, mblob) = got["export_download"], got["export_manifest_download"]
    rows = [json.loads(line) for line in blob.splitlines()]
    marked = sorted(r["Id"] for r in rows if r["NotYetProcessed"])
    assert marked == ["ev-2:0", "ev-3:0"] and len(rows) == 3
    body = json.loads(mblob)["manifest"]
    assert body["not_yet_processed"] == len(marked), "the manifest says how many rows no run has read yet"
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / name).write_bytes(blob)
    (folder / mname).write_bytes(mblob)
    assert auditlog(["verify-export", str(folder / name), "--data-dir", str(data_dir)]) == 0
