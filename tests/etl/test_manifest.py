"""Run manifests of the local ETL: signed, canonical, chained, appended on re-runs, never rewritten."""

from __future__ import annotations

import base64
import json
import stat
from datetime import date, datetime
from pathlib import Path

import pytest
import rfc8785

from etl import layout
from etl.local import run_all, run_etl
from etl.manifest import (
    KEYS_PREFIX,
    LocalTree,
    ManifestSettings,
    latest_manifests,
    sha256_hex,
    signed_message,
)
from etl.signing import Ed25519Signer, SigningError, public_keys_from_pems, verify_signature
from tests.etl.conftest import make_event, write_raw

DAYS = [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)]


@pytest.fixture
def key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The signing key lives outside the data folder, in its own folder."""
    path = tmp_path / "keys" / "signing-key.pem"
    monkeypatch.setenv("AUDITLOG_SIGNING_KEY", str(path))
    return path


def history(data_dir: Path) -> None:
    """Three arrival days (one late event among them), run with the CLI's default of two workers."""
    for i, day in enumerate(DAYS):
        events = [make_event(100 * i + n, time=f"{day}T0{n % 9}:00:00.000Z") for n in range(30)]
        events.append(make_event(100 * i + 99, time="2026-11-20T10:00:00.000Z"))  # late
        events.append("not json")
        write_raw(data_dir, datetime(day.year, day.month, day.day, 10), events)
    run_all(data_dir, workers=2)


def load(data_dir: Path, key: str) -> dict:
    return json.loads((data_dir / key).read_text())


def test_each_run_writes_one_signed_chained_manifest(tmp_path: Path, key_path: Path) -> None:
    data = tmp_path / "data"
    history(data)
    chain = latest_manifests(LocalTree(data))
    assert [seq for _, seq, _ in chain] == [1, 2, 3], "two days ran at once; the chain still has no gap"
    assert sorted(run for _, _, run in chain) == [layout.run_id(d) for d in DAYS]
    keys = public_keys_from_pems([(data / k).read_bytes() for k, _ in LocalTree(data).list(KEYS_PREFIX)])
    previous = None
    for key, seq, run in chain:
        raw = (data / key).read_bytes()
        doc = json.loads(raw)
        assert raw == rfc8785.dumps(doc), "the file is RFC 8785 canonical JSON"
        body = doc["manifest"]
        assert (body["seq"], body["run_id"], body["engine"]) == (seq, run, "duckdb")
        assert body["previous"] == previous
        previous = {"key": key, "sha256": sha256_hex(raw)}
        assert body["supersedes"] is None
        sig = base64.b64decode(doc["signature"])
        assert verify_signature(keys[body["signer"]["key_id"]], "ed25519", signed_message(body), sig)
        report = load(data, f"reports/{run}.json")
        assert body["report"]["events_in"] == report["events_in"] == 32
        assert body["report"]["quarantined"] == 1
        outputs = {o["key"]: o for o in body["outputs"]}
        for part in report["partitions"]:
            assert outputs[part["file"]]["rows"] == part["rows"]
            assert outputs[part["file"]]["sha256"] == sha256_hex((data / part["file"]).read_bytes())
        assert outputs[report["index_file"]]["rows"] > 0
        assert outputs[f"quarantine/{run}.jsonl"]["rows"] == 1
        assert f"reports/{run}.json" in outputs
        (inp,) = body["inputs"]
        assert inp["key"].startswith(layout.raw_day_prefix(layout.run_day(run)))
        assert inp["sha256"] == sha256_hex((data / inp["key"]).read_bytes())


def test_key_is_created_once_owner_only_outside_the_data_folder(tmp_path: Path, key_path: Path) -> None:
    data = tmp_path / "data"
    history(data)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert not any(p.name.endswith(".pem") and "PRIVATE" in p.read_text() for p in data.rglob("*.pem"))
    signer = Ed25519Signer.load_or_create(key_path)
    (pub,) = LocalTree(data).list(KEYS_PREFIX)
    assert (data / pub[0]).read_bytes() == signer.public_pem
    assert ManifestSettings.from_env().key_path() == key_path


def test_a_rerun_appends_a_manifest_naming_the_one_it_supersedes(tmp_path: Path, key_path: Path) -> None:
    data = tmp_path / "data"
    history(data)
    before = {k: (data / k).read_bytes() for k, _, _ in latest_manifests(LocalTree(data))}
    write_raw(data, datetime(2026, 11, 26, 11), [make_event(999, time="2026-11-26T11:00:00.000Z")])
    run_etl(data, DAYS[1])
    chain = latest_manifests(LocalTree(data))
    assert len(chain) == 4
    key, seq, run = chain[-1]
    body = load(data, key)["manifest"]
    first = next(k for k, _, r in chain[:3] if r == run)
    assert (seq, run, body["supersedes"]) == (4, "run-20261126", first)
    assert len(body["inputs"]) == 2 and body["report"]["events_in"] == 33
    assert {k: (data / k).read_bytes() for k in before} == before, "earlier manifests are never rewritten"


def test_a_group_readable_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    Ed25519Signer.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(SigningError, match="chmod 600"):
        Ed25519Signer.load_or_create(path)


def test_the_readme_documents_every_manifest_setting_with_its_help() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for name in ManifestSettings.names():
        var = ManifestSettings.variable(name)
        line = next((ln for ln in readme.splitlines() if f"`{var}`" in ln and ln.startswith("|")), None)
        assert line is not None, f"README.md's settings tables do not list {var}"
        assert ManifestSettings.help(name) in line, f"README.md's help for {var} differs from the code"
