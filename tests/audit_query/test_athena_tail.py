"""The not-yet-processed tail on Athena (issue 12, item 4): the raw objects no Glue run has read, listed and
read from S3 (moto), computed by the ETL's own rules and merged with Athena's stored rows in keyset order.

"Athena" here is moto's request flow with each query's own SQL text run on DuckDB over the stored Parquet
(a view named like the Athena table): the builder's Athena SQL is what DuckDB runs (test_sql_athena.py).
The answers must equal the local DuckDB tail's (tests/audit_query/test_tail.py) over the same files.
Nothing here runs against real AWS."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends
from sqlglot import exp

import audit_query.tail as tail_mod
from audit_query import AuditLogClient, AuditLogQuery
from audit_query.backends.athena import AthenaBackend
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.s3_tail import S3Tail
from etl.local import run_etl
from tests.etl.conftest import make_event, write_raw

from .test_athena_backend import ACCOUNT, ATHENA_SETTINGS, REGION, WORKGROUP, session, text

DAY = date(2026, 11, 27)
ARRIVAL = datetime(2026, 11, 27, 4)
SETTINGS = replace(ATHENA_SETTINGS, raw_s3_uri="s3://audit-raw/", tail_list_seconds=0.0)
ORDERS = ("shop.orders", "billing")


def _events(data_dir: Path, names: str, first: int, source: str = "shop.orders") -> None:
    """One raw object per letter of `names`, one event each (numbers from `first`), at 10:<number>."""
    for i, name in enumerate(names):
        n = first + i
        event = make_event(n, time=f"2026-11-27T10:{n:02d}:00.000Z", source=source)
        write_raw(data_dir, ARRIVAL, [event], name=f"{name}.json.gz")


def _athena_type(duck_type: str) -> str:
    known = {"TIMESTAMP": "timestamp", "TIMESTAMP_MS": "timestamp", "BIGINT": "bigint"}
    return known.get(duck_type, "varchar")


class Stack:
    """moto S3 buckets mirroring a local data folder; moto Athena answers with DuckDB over its Parquet."""

    def __init__(self, data_dir: Path, s3: Any) -> None:
        self.data_dir = data_dir
        self.s3 = s3
        self.queries: list[str] = []

    def sync(self) -> None:
        """Upload every raw object to the raw bucket, every manifest and Parquet file to the analytics one."""
        for path in sorted(self.data_dir.rglob("*")):
            key = path.relative_to(self.data_dir).as_posix()
            if path.is_file() and key.startswith("raw/"):
                self.s3.put_object(Bucket="audit-raw", Key=key, Body=path.read_bytes())
            elif path.is_file() and key.startswith(("manifests/", "analytics/")):
                self.s3.put_object(Bucket="audit-data", Key=key, Body=path.read_bytes())

    def answer(self, sql_text: str) -> QueryResults:
        """What Athena would return for `sql_text` over the stored rows, shaped like GetQueryResults."""
        stored = DuckDBBackend(self.data_dir)  # no tail: Athena's table holds only what runs stored
        con = duckdb.connect()
        try:
            con.execute('CREATE SCHEMA "audit_db"')
            con.execute(f'CREATE VIEW "audit_db"."events" AS SELECT * FROM {stored.table_ref()}')
            cur = con.execute(sql_text)
            desc = cur.description or []
            rows = cur.fetchall()
        finally:
            con.close()
            stored.close()
        info = [
            {"Name": d[0].lower(), "Label": d[0].lower(), "Type": _athena_type(str(d[1])), "Precision": 0,
             "Scale": 0, "Nullable": "UNKNOWN"}
            for d in desc
        ]
        header = {"Data": [{"VarCharValue": d[0].lower()} for d in desc]}
        data = [{"Data": [text(v) for v in row]} for row in rows]
        return QueryResults([header, *data], info)


@pytest.fixture()
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    real_version = tail_mod.data_version  # the local tail covers yesterday and today: pin "now"
    monkeypatch.setattr(tail_mod, "data_version", lambda d, now=None: real_version(d, now=ARRIVAL))
    with mock_aws():
        s = session()
        s.client("athena").create_work_group(Name=WORKGROUP, Description="audit log")
        s3 = s.client("s3")
        for bucket in ("athena-results", "audit-raw", "audit-data"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        found = Stack(tmp_path, s3)
        moto_athena = athena_backends[ACCOUNT][REGION]
        real_results = moto_athena.get_query_results

        def get_query_results(exec_id: str) -> QueryResults:
            if exec_id not in moto_athena.query_results:
                found.queries.append(moto_athena.executions[exec_id].query)
                moto_athena.query_results_queue.append(found.answer(found.queries[-1]))
            return real_results(exec_id)

        with monkeypatch.context() as patch:
            patch.setattr(moto_athena, "get_query_results", get_query_results)
            yield found


def _athena(stack: Stack) -> AthenaBackend:
    backend = AthenaBackend(SETTINGS, session=session(), serve_tail=True)
    assert backend._tail is not None
    backend._tail._now = lambda: ARRIVAL.replace(tzinfo=UTC)
    return backend


def _walk(client: AuditLogClient, q: AuditLogQuery) -> tuple[list[str], list[str]]:
    """Ids paging forward to the end, then back to the start."""
    seen, page = [], client.query(q)
    while True:
        seen.extend(r.Id for r in page.rows)
        if page.next_cursor is None:
            break
        page = client.query(q.next_query(page))  # type: ignore[arg-type]
    back: list[str] = []
    while page.prev_cursor is not None:
        page = client.query(replace(q, cursor=page.prev_cursor, direction="prev"))
        back.extend(r.Id for r in page.rows)
    return seen, back


def test_athena_serves_the_tail_as_the_local_backend_does_then_hands_over(stack: Stack) -> None:
    data = stack.data_dir
    _events(data, "ab", 1)
    run_etl(data, DAY)
    _events(data, "cd", 3)  # waiting: two events newer than the stored two
    _events(data, "e", 5, source="billing")
    # a waiting object the rules partly reject: a re-delivery of a stored event and a malformed line
    write_raw(data, ARRIVAL, [make_event(1, time="2026-11-27T10:01:00.000Z"), "{bad"], name="f.json.gz")
    stack.sync()
    q = AuditLogQuery(DAY, DAY, ORDERS, limit=2)
    with DuckDBBackend(data, serve_tail=True) as local, _athena(stack) as athena:
        here, there = AuditLogClient(local), AuditLogClient(athena)
        assert athena.tail_ids() == local.tail_ids() == {"ev-3:0", "ev-4:0", "ev-5:0"}
        assert there.count(q) == here.count(q) == 5
        assert there.counts(q, "source") == here.counts(q, "source")
        assert [(c.key, c.count) for c in there.counts(q, "source")] == [("shop.orders", 4), ("billing", 1)]
        assert there.counts(q, ("hour", "action")) == here.counts(q, ("hour", "action"))
        walked = _walk(there, q)
        assert walked == _walk(here, q)
        newest_first = ["ev-5:0", "ev-4:0", "ev-3:0", "ev-2:0", "ev-1:0"]
        assert walked == (newest_first, ["ev-3:0", "ev-2:0", "ev-5:0", "ev-4:0"])  # back: pages [3,2], [5,4]
        first = there.query(q).rows
        assert first == here.query(q).rows  # column for column, the tail row is what the run will store
        assert [r.Id for r in there.history("o-3", date_from=DAY, date_to=DAY)] == ["ev-3:0"]
        # every statement Athena got is one SELECT in its grammar, on the table only; one checked tail Ids
        for sent in stack.queries:
            (tree,) = sqlglot.parse(sent, read="athena")
            assert isinstance(tree, exp.Select)
            ctes = {c.alias for c in tree.find_all(exp.CTE)}
            tables = {(t.db, t.name) for t in tree.find_all(exp.Table) if t.name not in ctes}
            assert tables == {("audit_db", "events")}
        assert sum(q.startswith('SELECT DISTINCT "Id"') for q in stack.queries) == 1

        run_etl(data, DAY)  # the run reads everything waiting; its manifest lists the objects
        stack.sync()
        assert athena.tail_ids() == frozenset()
        assert there.count(q) == 5  # stored now: no duplicate, no gap
        assert _walk(there, q)[0] == walked[0]


def test_objects_are_downloaded_once_and_a_fresh_listing_is_reused(stack: Stack) -> None:
    data = stack.data_dir
    _events(data, "ab", 1)
    stack.sync()
    tail = S3Tail("s3://audit-raw/", "s3://audit-data/", stack.s3, list_seconds=60.0, clock=lambda: 0.0,
                  now=lambda: ARRIVAL.replace(tzinfo=UTC))
    try:
        calls: list[str] = []
        stack.s3.meta.events.register("before-call.s3.*", lambda event_name, **kw: calls.append(event_name))
        assert tail.state()[1] == {"ev-1:0", "ev-2:0"}
        first = list(calls)
        assert first.count("before-call.s3.GetObject") == 2  # each waiting object once
        assert first.count("before-call.s3.ListObjectsV2") == 3  # manifests/, yesterday, today
        assert tail.state()[1] == {"ev-1:0", "ev-2:0"}
        assert calls == first  # within list_seconds: no request at all
    finally:
        tail.close()


def test_without_a_raw_bucket_the_athena_backend_serves_no_tail(stack: Stack) -> None:
    _events(stack.data_dir, "a", 1)
    stack.sync()
    backend = AthenaBackend(replace(SETTINGS, raw_s3_uri=""), session=session(), serve_tail=True)
    with backend:
        assert backend.tail_ids() == frozenset()
        assert AuditLogClient(backend).count(AuditLogQuery(DAY, DAY, ORDERS)) == 0


def test_a_table_location_without_the_analytics_prefix_says_what_to_set() -> None:
    from etl.errors import ConfigurationError

    bad = replace(SETTINGS, analytics_s3_uri="s3://audit-data/elsewhere/")
    with pytest.raises(ConfigurationError, match="analytics/auditlog/"):
        AthenaBackend(bad, session=session(), serve_tail=True)


def test_a_source_whose_first_events_wait_is_listed_on_athena(stack: Stack) -> None:
    data = stack.data_dir
    _events(data, "ab", 1)
    run_etl(data, DAY)
    _events(data, "c", 3, source="billing")  # a brand-new source: only in the tail, no dt=/source= prefix
    stack.sync()
    with _athena(stack) as athena:
        assert athena.list_sources() == ["billing", "shop.orders"]
        assert AuditLogClient(athena).sources() == ["billing", "shop.orders"]
    plain = AthenaBackend(replace(SETTINGS, raw_s3_uri=""), session=session(), serve_tail=True)
    with plain:  # no tail served: only the stored partitions' sources
        assert plain.list_sources() == ["shop.orders"]
