"""Masking at read time (audit_query.masking) over real Parquet with DuckDB: for a reader without `pii` no
personal value leaves the library — rows, history, correlation, counts and every export format — while
filters still run on the real values and paging is unchanged."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from audit_events.access import ACCESS_SOURCE as EVENTS_ACCESS_SOURCE
from audit_query import AuditLogClient, AuditLogQuery, QuerySettings
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.diff import diff_json
from audit_query.export import export
from audit_query.masking import (
    ACCESS_SOURCE,
    CHANGED_MASK,
    MASK,
    MaskedClient,
    MaskingRules,
    MaskingSettings,
    pseudonym,
)
from etl.errors import ConfigurationError
from etl.rules import changes
from tests.audit_query.conftest import make_row, write_rows

DAY = date(2026, 11, 25)
EMAIL_OLD, EMAIL_NEW = "ann.old@example.com", "ann.new@example.com"
PHONE = "+47 555 0101"
CITY = "Tromsø"
ACTOR = "ann.admin@example.com"
SECRETS = (EMAIL_OLD, EMAIL_NEW, PHONE, CITY, ACTOR, "Ann Example")
RULES = {
    "*": {"fields": ["email"]},
    "shop.users": {"fields": ["phone", "address.*"], "entity_name": True, "actor_name": True},
}


ORDER_AFTER = '{"contact": {"email": "' + EMAIL_NEW + '"}, "status": "New", "total": 1.10}'


def _changes(before: str | None, after: str | None) -> list[dict[str, str | None]]:
    """The Changes column the ETL stores for these texts (etl.rules.changes)."""
    return [{"Field": f, "Before": b, "After": a} for f, b, a in changes(before, after)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("masking")
    t0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    rows = []
    for i in range(30):
        before = {"email": EMAIL_OLD, "phone": PHONE, "address": {"city": CITY}, "plan": "basic", "n": i}
        after = {"email": EMAIL_NEW, "phone": PHONE, "address": {"city": CITY}, "plan": "gold", "n": i}
        if i % 2:  # the Changes column names the changed email: it must be masked as Before/After are
            after["address"] = {"city": CITY + " Nord"}
        rows.append(
            make_row(
                f"u{i}:0",
                t0 + timedelta(minutes=i),
                "shop.users",
                EntityId=f"user-{i % 3}",
                EntityName="Ann Example",
                EntityType="User",
                ActorName=ACTOR,
                ActorType="User",
                Action="Update",
                Before=json.dumps(before, ensure_ascii=False),
                After=json.dumps(after, ensure_ascii=False),
                CorrelationId="req-1",
                Changes=_changes(*(json.dumps(v, ensure_ascii=False) for v in (before, after))),
            )
        )
    rows.append(
        make_row(
            "o1:0",
            t0 + timedelta(hours=1),
            "shop.orders",
            EntityId="order-1",
            EntityName="Order 1",
            EntityType="Order",
            ActorName="order-service",
            ActorType="Service",
            Action="Create",
            After=ORDER_AFTER,
            CorrelationId="req-1",
            Changes=_changes(None, ORDER_AFTER),
        )
    )
    write_rows(data, rows)
    return data


@pytest.fixture()
def raw(folder: Path):
    client = AuditLogClient(DuckDBBackend(folder), QuerySettings(cursor_secret=b"k"))
    yield client
    client.close()


@pytest.fixture()
def masked(raw: AuditLogClient) -> MaskedClient:
    return MaskedClient(raw, MaskingRules.from_dict(RULES))


QUERY = AuditLogQuery(DAY, DAY, ("shop.orders", "shop.users"), limit=7)


def text_of(records) -> str:
    return json.dumps([r.to_dict() for r in records], default=str, ensure_ascii=False)


def test_the_unmasked_client_shows_the_personal_values_so_the_checks_below_can_fail(raw):
    shown = text_of(r for p in raw.iter_pages(QUERY) for r in p.rows)
    assert all(secret in shown for secret in SECRETS)
    in_changes = json.dumps([r.Changes for p in raw.iter_pages(QUERY) for r in p.rows], ensure_ascii=False)
    assert EMAIL_OLD in in_changes and CITY in in_changes and EMAIL_NEW in in_changes


def test_the_changes_column_is_masked_like_before_and_after(masked):
    row = masked.query(AuditLogQuery(DAY, DAY, ("shop.users",), entity_id="user-1", limit=1)).rows[0]
    assert ("email", '"(masked)"', '"changed (masked)"') in row.Changes
    assert ("plan", '"basic"', '"gold"') in row.Changes


def test_no_personal_value_leaves_any_read_path(masked):
    pages = list(masked.iter_pages(QUERY))
    shown = text_of(r for p in pages for r in p.rows)
    shown += text_of(masked.history("user-1", date_from=DAY, date_to=DAY))
    shown += text_of(masked.correlation("req-1", date_from=DAY, date_to=DAY))
    shown += json.dumps([c.__dict__ for c in masked.counts(QUERY, ["actor", "entity_type"])])
    for secret in SECRETS:
        assert secret not in shown, secret
    assert sum(len(p.rows) for p in pages) == 31


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_no_personal_value_in_any_export_format(masked, raw, fmt):
    def exported(client) -> str:
        buffer = io.BytesIO()
        export(client, QUERY, fmt, buffer)
        data = buffer.getvalue()
        if fmt == "parquet":
            return json.dumps(pq.read_table(io.BytesIO(data)).to_pylist(), default=str, ensure_ascii=False)
        return data.decode("utf-8")

    assert EMAIL_NEW in exported(raw)
    text = exported(masked)
    assert not [s for s in SECRETS if s in text]
    assert "order-1" in text and "gold" in text  # what is not personal is still there


def test_a_changed_personal_field_says_changed_and_an_unchanged_one_only_masked(masked):
    row = masked.query(AuditLogQuery(DAY, DAY, ("shop.users",), entity_id="user-1", limit=1)).rows[0]
    changes = {c.path: c for c in diff_json(row.Before, row.After)}
    assert (changes["email"].kind, changes["email"].before, changes["email"].after) == (
        "changed",
        MASK,
        CHANGED_MASK,
    )
    assert (changes["phone"].kind, changes["phone"].after) == ("unchanged", MASK)
    assert changes["address"].after == MASK  # address.* masks the whole object
    assert (changes["plan"].before, changes["plan"].after) == ("basic", "gold")
    assert row.EntityName == pseudonym("Ann Example") and row.ActorName == pseudonym(ACTOR)


def test_text_with_nothing_to_mask_keeps_its_exact_form(masked, raw):
    q = AuditLogQuery(DAY, DAY, ("shop.orders",))
    (mine,), (real,) = masked.query(q).rows, raw.query(q).rows
    assert '"total": 1.10' in real.After
    assert MASK in mine.After and '"status":"New"' in mine.After and '"total":1.10' in mine.After


def test_filters_run_on_the_real_values_and_paging_is_unchanged(masked, raw):
    q = AuditLogQuery(DAY, DAY, ("shop.users",), actor_name=ACTOR, limit=4)
    ids = [r.Id for p in masked.iter_pages(q) for r in p.rows]
    assert ids == [r.Id for p in raw.iter_pages(q) for r in p.rows] and len(ids) == 30


def test_the_explorers_access_events_mask_a_typed_actor_name():
    assert ACCESS_SOURCE == EVENTS_ACCESS_SOURCE
    rules = MaskingRules.from_dict(RULES)
    after = json.dumps({"view": "search", "filters": {"actor_name": ACTOR, "sources": ["shop.users"]}})
    masked_after = rules.mask_json(ACCESS_SOURCE, after)
    assert ACTOR not in masked_after and "shop.users" in masked_after


def test_every_read_method_of_the_client_is_masked():
    names = [n for n in dir(AuditLogClient) if not n.startswith("_")]
    public = {n for n in names if callable(getattr(AuditLogClient, n))}
    overridden = {n for n in public if getattr(MaskedClient, n) is not getattr(AuditLogClient, n)}
    assert public - overridden == MaskedClient.UNMASKED, "a new read method of AuditLogClient is not masked"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ('["email"]', "expected a JSON object of sources"),
        ('{"a": {"fields": "email"}}', "'fields' must be a list"),
        ('{"a": {"actor_name": "yes"}}', "'actor_name' must be true or false"),
        ('{"a": {"colour": true}}', r"unknown keys \['colour'\]"),
    ],
)
def test_bad_rule_files_say_what_to_change(tmp_path, content, message):
    path = tmp_path / "rules.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        MaskingRules.load(path)
    with pytest.raises(ConfigurationError, match="cannot read it"):
        MaskingRules.load(tmp_path / "missing.json")


def test_rules_come_from_the_setting(tmp_path):
    assert MaskingRules.from_settings(MaskingSettings()) is None
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(RULES), encoding="utf-8")
    rules = MaskingRules.from_settings(MaskingSettings.from_env({"AUDITLOG_MASKING_RULES": str(path)}))
    assert rules is not None and rules.for_source("shop.users").masks_path(("address", "city"))


def test_the_command_line_masks_unless_given_the_pii_role(folder, tmp_path, monkeypatch, capsys):
    from auditlog.cli import main

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    monkeypatch.setenv("AUDITLOG_MASKING_RULES", str(rules))
    monkeypatch.setenv("AUDITLOG_ACCESS_LOG", "off")  # keep the shared folder free of access events
    base = ["--data-dir", str(folder), "--from", DAY.isoformat()]
    assert main(["query", *base, "--format", "jsonl", "--all"]) == 0
    masked_out = capsys.readouterr().out
    out_file = tmp_path / "x.csv"
    assert main(["export", *base, "--format", "csv", "--output", str(out_file)]) == 0
    masked_out += out_file.read_text(encoding="utf-8")
    assert masked_out.count("\n") > 30 and not [s for s in SECRETS if s in masked_out]
    assert main(["query", *base, "--format", "jsonl", "--all", "--role", "pii"]) == 0
    assert EMAIL_NEW in capsys.readouterr().out


def test_service_actors_stay_readable_in_rows(masked):
    row = masked.query(AuditLogQuery(DAY, DAY, ("shop.orders",))).rows[0]
    assert row.ActorName == "order-service"  # shop.orders has no actor_name rule, "*" neither
    rules = MaskingRules.from_dict({"shop.orders": {"actor_name": True}})
    service = MaskedClient(masked, rules).query(AuditLogQuery(DAY, DAY, ("shop.orders",))).rows[0]
    assert service.ActorName == "order-service"


def cli_access_events(data_dir: Path) -> list[dict]:
    """Every access event the command line wrote under `data_dir` (local access log)."""
    import gzip

    out = []
    for path in sorted((data_dir / "raw").glob("year=*/month=*/day=*/hour=*/auditlog-access-*.json.gz")):
        out += [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    return sorted(
        (e for e in out if e["detail"]["correlation_id"].startswith("cli-")), key=lambda e: e["time"]
    )


def test_the_command_line_records_each_read_with_os_user_host_and_masking(
    folder, tmp_path, monkeypatch, capsys
):
    import getpass
    import shutil
    import socket

    from auditlog.cli import main

    data = tmp_path / "data"
    shutil.copytree(folder, data)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    monkeypatch.setenv("AUDITLOG_MASKING_RULES", str(rules))
    monkeypatch.delenv("AUDITLOG_ACCESS_LOG", raising=False)
    base = ["--data-dir", str(data), "--from", DAY.isoformat(), "--source", "shop.users"]
    assert main(["query", *base, "--format", "csv", "--all"]) == 0
    assert (
        main(["export", *base, "--format", "jsonl", "--output", str(tmp_path / "x.jsonl"), "--role", "pii"])
        == 0
    )
    events = cli_access_events(data)
    assert [e["detail"]["action"] for e in events] == ["Read", "Export"]
    afters = [e["detail"]["entities"][0]["after"] for e in events]
    assert [(a["view"], a["rows"], a["format"], a["masked"]) for a in afters] == [
        ("cli-query", 30, "csv", True),
        ("cli-export", 30, "jsonl", False),
    ]
    assert {a["host"] for a in afters} == {socket.gethostname()}
    assert {e["detail"]["actor"]["name"] for e in events} == {getpass.getuser()}
    assert afters[0]["filters"]["sources"] == ["shop.users"]


def test_an_export_that_cannot_be_recorded_is_removed(folder, tmp_path, monkeypatch, capsys):
    from auditlog.cli import main

    monkeypatch.setenv("AUDITLOG_ACCESS_LOG", "eventbridge")  # and no bus: cannot be recorded
    monkeypatch.delenv("AUDITLOG_ACCESS_EVENT_BUS", raising=False)
    out = tmp_path / "x.csv"
    args = [
        "export",
        "--data-dir",
        str(folder),
        "--from",
        DAY.isoformat(),
        "--format",
        "csv",
        "--output",
        str(out),
    ]
    assert main(args) == 1
    assert not out.exists()
    assert "could not be recorded in the audit log" in capsys.readouterr().err
