"""AthenaBackend against moto (request flow, canned results, S3 source discovery) and botocore's Stubber
(exact request shapes, cancel at the bytes and time limits, engine failures). Nothing runs against real AWS.

Canned results mimic Athena's GetQueryResults: a header row first, every value as VarCharValue text (NULL is
an empty cell), column names lower-cased (Athena lower-cases result columns), timestamps as
'YYYY-MM-DD HH:MM:SS.fff'."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import boto3
import pytest
import sqlglot
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.athena.models import QueryResults, athena_backends

from audit_query import (
    AuditLogClient,
    AuditLogQuery,
    BackendError,
    QueryLimitExceeded,
)
from audit_query import sql as b
from audit_query.backends import backend_from_env
from audit_query.backends.athena import AthenaBackend
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.formatter import timestamp_text
from etl import layout, schema

from .conftest import SETTINGS

REGION = "eu-west-1"
ACCOUNT = "123456789012"
WORKGROUP = "auditlog-wg"
OUTPUT = "s3://athena-results/auditlog/"
ATHENA_SETTINGS = replace(
    SETTINGS,
    athena_database="audit_db",
    athena_table="events",
    athena_workgroup=WORKGROUP,
    athena_output_location=OUTPUT,
    athena_poll_seconds=0.0,
    analytics_s3_uri="s3://audit-data/analytics/auditlog/",
)
DAY = date(2026, 11, 25)


def session() -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


def text(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, datetime):
        return {"VarCharValue": timestamp_text(value)}
    return {"VarCharValue": str(value)}


def athena_result(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> dict[str, Any]:
    """A GetQueryResults body for `rows` with (name, athena type) columns, as Athena shapes it."""
    info = [
        {"Name": n.lower(), "Label": n.lower(), "Type": t, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN"}
        for n, t in columns
    ]
    header = {"Data": [{"VarCharValue": n.lower()} for n, _ in columns]}
    data = [{"Data": [text(r.get(n)) for n, _ in columns]} for r in rows]
    return {"ResultSet": {"Rows": [header, *data], "ResultSetMetadata": {"ColumnInfo": info}}}


TABLE_COLUMNS = [(c.name, "timestamp" if c.name == "Timestamp" else "varchar") for c in schema.ALL_COLUMNS]


def execution(query_id: str, state: str, scanned: int = 0, millis: int = 0, **status: Any) -> dict[str, Any]:
    """A GetQueryExecution body."""
    return {
        "QueryExecution": {
            "QueryExecutionId": query_id,
            "Query": "SELECT 1",
            "StatementType": "DML",
            "Status": {"State": state, **status},
            "Statistics": {"DataScannedInBytes": scanned, "EngineExecutionTimeInMillis": millis},
            "WorkGroup": WORKGROUP,
        }
    }


# -- moto: the whole request flow ----------------------------------------------------------------------


@pytest.fixture()
def moto_athena() -> Iterator[Any]:
    with mock_aws():
        s = session()
        s.client("athena").create_work_group(Name=WORKGROUP, Description="audit log")
        s.client("s3").create_bucket(
            Bucket="athena-results", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield athena_backends[ACCOUNT][REGION]


def queue(moto_backend: Any, body: dict[str, Any]) -> None:
    rs = body["ResultSet"]
    moto_backend.query_results_queue.append(QueryResults(rs["Rows"], rs["ResultSetMetadata"]["ColumnInfo"]))


def test_athena_pages_equal_duckdb_pages_and_requests_use_workgroup_and_output(
    moto_athena: Any, backend: DuckDBBackend
) -> None:
    duck = AuditLogClient(backend, SETTINGS)
    athena = AthenaBackend(ATHENA_SETTINGS, session=session())
    client = AuditLogClient(athena, ATHENA_SETTINGS)
    q = AuditLogQuery(DAY, DAY, ("billing", "shop.orders"), actions=["Update", "Create"], limit=4)
    first = duck.query(q)
    # Athena would run the same SQL; moto returns the rows DuckDB produced for it, as Athena text.
    raw = backend.execute(b.build_page_sql(q, dialect="duckdb", table_ref=backend.table_ref()))
    queue(moto_athena, athena_result(list(raw), TABLE_COLUMNS))

    page = client.query(q)

    assert page.rows == first.rows and len(page.rows) == 4
    assert isinstance(page.rows[0].Timestamp, datetime) and page.rows[0].Timestamp.tzinfo is not None
    assert page.has_more and page.next_cursor is not None
    assert page.stats is not None and page.stats.state == "SUCCEEDED" and page.stats.query_id
    execution_ = moto_athena.executions[page.stats.query_id]
    assert execution_.workgroup.name == WORKGROUP
    assert execution_.config["OutputLocation"].startswith(OUTPUT)
    assert execution_.context["Database"] == "audit_db"
    assert execution_.query == b.build_page_sql(q, dialect="athena", table_ref='"audit_db"."events"')
    assert len(sqlglot.parse(execution_.query, read="athena")) == 1

    # the next page's cursor works the same way on Athena
    q2 = q.next_query(page)
    raw2 = backend.execute(
        b.build_page_sql(q2, dialect="duckdb", table_ref=backend.table_ref(), position=client._position(q2))
    )
    queue(moto_athena, athena_result(list(raw2), TABLE_COLUMNS))
    assert client.query(q2).rows == duck.query(q.next_query(first)).rows
    athena.close()


def test_count_and_counts_read_lower_cased_columns_as_numbers(moto_athena: Any) -> None:
    client = AuditLogClient(AthenaBackend(ATHENA_SETTINGS, session=session()), ATHENA_SETTINGS)
    q = AuditLogQuery(DAY, DAY, ("billing",))
    queue(moto_athena, athena_result([{"count": 42}], [("count", "bigint")]))
    assert client.count(q) == 42
    queue(
        moto_athena,
        athena_result(
            [{"key": "Update", "count": 3}, {"key": None, "count": 1}],
            [("key", "varchar"), ("count", "bigint")],
        ),
    )
    counts = client.counts(q, "action")
    assert [(c.key, c.count) for c in counts] == [("Update", 3), (None, 1)]


def test_an_unknown_workgroup_is_a_backend_error_with_athenas_message(moto_athena: Any) -> None:
    athena = AthenaBackend(replace(ATHENA_SETTINGS, athena_workgroup="nope"), session=session())
    with pytest.raises(BackendError, match="WorkGroup does not exist") as info:
        athena.execute("SELECT 1")
    assert not isinstance(info.value, ValueError)


# -- moto S3: source discovery --------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told to (or when `sleep` is called)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def put(s3: Any, day: date, source: str) -> None:
    key = layout.analytics_partition_prefix(day, source) + f"{layout.run_id(day)}-part-0000.parquet"
    s3.put_object(Bucket="audit-data", Key=key, Body=b"PAR1")


def test_sources_come_from_recent_dt_partitions_and_are_cached() -> None:
    with mock_aws():
        s3 = session().client("s3")
        s3.create_bucket(Bucket="audit-data", CreateBucketConfiguration={"LocationConstraint": REGION})
        put(s3, date(2026, 10, 1), "old.service")  # only in a partition older than the lookback
        for day in (date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)):
            put(s3, day, "shop.orders")
        put(s3, date(2026, 11, 25), "billing")
        put(s3, date(2026, 11, 26), "crm-app")
        s3.put_object(Bucket="audit-data", Key="analytics/auditlog/_SUCCESS", Body=b"")
        clock = FakeClock()
        athena = AthenaBackend(ATHENA_SETTINGS, session=session(), clock=clock, lookback_partitions=3)

        assert athena.list_sources() == ["billing", "crm-app", "shop.orders"]
        put(s3, date(2026, 11, 26), "new.source")
        assert athena.list_sources() == ["billing", "crm-app", "shop.orders"]  # cached
        clock.now += ATHENA_SETTINGS.sources_cache_seconds + 1
        assert athena.list_sources() == ["billing", "crm-app", "new.source", "shop.orders"]
        assert AuditLogClient(athena, ATHENA_SETTINGS).sources() == athena.list_sources()


def test_sources_without_an_analytics_uri_say_which_variable_to_set() -> None:
    with mock_aws():
        athena = AthenaBackend(replace(ATHENA_SETTINGS, analytics_s3_uri=""), session=session())
        with pytest.raises(ValueError, match="AUDITLOG_ANALYTICS_S3_URI"):
            athena.list_sources()


def test_a_missing_bucket_is_a_backend_error() -> None:
    with mock_aws():
        athena = AthenaBackend(ATHENA_SETTINGS, session=session())
        with pytest.raises(BackendError, match="NoSuchBucket"):
            athena.list_sources()


# -- Stubber: exact requests, limits, failures ----------------------------------------------------------


@pytest.fixture()
def stubbed() -> Iterator[tuple[AthenaBackend, Stubber, FakeClock]]:
    clock = FakeClock()
    settings = replace(
        ATHENA_SETTINGS,
        athena_max_bytes_scanned=1_000_000,
        athena_timeout_seconds=10.0,
        athena_poll_seconds=4.0,
    )
    athena = AthenaBackend(settings, session=session(), clock=clock, sleep=clock.sleep)
    with Stubber(athena.athena_client) as stub:
        yield athena, stub, clock
        stub.assert_no_pending_responses()


def expect_start(stub: Stubber, sql_text: str, query_id: str) -> None:
    stub.add_response(
        "start_query_execution",
        {"QueryExecutionId": query_id},
        {
            "QueryString": sql_text,
            "QueryExecutionContext": {"Database": "audit_db", "Catalog": "awsdatacatalog"},
            "WorkGroup": WORKGROUP,
            "ResultConfiguration": {"OutputLocation": OUTPUT},
        },
    )


def test_a_successful_query_sends_exact_requests_and_reports_its_statistics(stubbed: Any) -> None:
    athena, stub, clock = stubbed
    expect_start(stub, "SELECT 1", "q-ok")
    stub.add_response("get_query_execution", execution("q-ok", "QUEUED"), {"QueryExecutionId": "q-ok"})
    stub.add_response("get_query_execution", execution("q-ok", "RUNNING", 500), {"QueryExecutionId": "q-ok"})
    stub.add_response(
        "get_query_execution", execution("q-ok", "SUCCEEDED", 123_456, 789), {"QueryExecutionId": "q-ok"}
    )
    when = datetime(2026, 11, 25, 8, 0, 1, 5000)
    stub.add_response(
        "get_query_results",
        athena_result(
            [{"Id": "a:0", "Timestamp": when, "Before": None}],
            [("Id", "varchar"), ("Timestamp", "timestamp"), ("Before", "varchar")],
        ),
        {"QueryExecutionId": "q-ok", "MaxResults": ANY},
    )

    result = athena.execute("SELECT 1")

    assert list(result) == [{"Id": "a:0", "Timestamp": datetime(2026, 11, 25, 8, 0, 1, 5000), "Before": None}]
    assert (result.stats.query_id, result.stats.state) == ("q-ok", "SUCCEEDED")
    assert (result.stats.bytes_scanned, result.stats.elapsed_ms) == (123_456, 789.0)
    assert clock.sleeps == [4.0, 4.0]


def test_a_query_over_the_bytes_limit_is_stopped(stubbed: Any) -> None:
    athena, stub, clock = stubbed
    expect_start(stub, "SELECT big", "q-big")
    stub.add_response("get_query_execution", execution("q-big", "RUNNING", 10), {"QueryExecutionId": "q-big"})
    stub.add_response(
        "get_query_execution", execution("q-big", "RUNNING", 5_000_000), {"QueryExecutionId": "q-big"}
    )
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-big"})

    with pytest.raises(QueryLimitExceeded) as info:
        athena.execute("SELECT big")

    message = str(info.value)
    assert "q-big" in message and "5,000,000 bytes" in message and "athena_max_bytes_scanned" in message


def test_a_query_that_cannot_be_stopped_is_a_backend_error_saying_so(stubbed: Any) -> None:
    athena, stub, clock = stubbed
    expect_start(stub, "SELECT big", "q-stuck")
    stub.add_response(
        "get_query_execution", execution("q-stuck", "RUNNING", 5_000_000), {"QueryExecutionId": "q-stuck"}
    )
    stub.add_client_error(
        "stop_query_execution",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: athena:StopQueryExecution",
        expected_params={"QueryExecutionId": "q-stuck"},
    )

    with pytest.raises(BackendError) as info:
        athena.execute("SELECT big")

    # not "cancelled": the query may still be running (and billing) in Athena
    assert not isinstance(info.value, QueryLimitExceeded)
    message = str(info.value)
    assert "q-stuck" in message and "could not be stopped" in message
    assert "athena:StopQueryExecution" in message


def test_a_query_running_past_the_time_limit_is_stopped(stubbed: Any) -> None:
    athena, stub, clock = stubbed
    expect_start(stub, "SELECT slow", "q-slow")
    for _ in range(4):  # polled at t = 0, 4, 8, 12 s; 12 s > 10 s
        stub.add_response(
            "get_query_execution", execution("q-slow", "RUNNING", 10), {"QueryExecutionId": "q-slow"}
        )
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-slow"})

    with pytest.raises(QueryLimitExceeded, match="athena_timeout_seconds"):
        athena.execute("SELECT slow")
    assert clock.sleeps == [4.0, 4.0, 4.0]


def test_a_finished_query_over_the_limits_is_not_stopped(stubbed: Any) -> None:
    athena, stub, clock = stubbed
    expect_start(stub, "SELECT done", "q-done")
    stub.add_response(
        "get_query_execution", execution("q-done", "SUCCEEDED", 9_000_000), {"QueryExecutionId": "q-done"}
    )
    stub.add_response(
        "get_query_results",
        athena_result([{"count": 7}], [("count", "bigint")]),
        {"QueryExecutionId": "q-done", "MaxResults": ANY},
    )
    assert list(athena.execute("SELECT done")) == [{"count": 7}]


def test_a_failed_query_is_a_backend_error_with_athenas_reason(stubbed: Any) -> None:
    athena, stub, clock = stubbed
    expect_start(stub, "SELECT broken", "q-bad")
    reason = "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"
    stub.add_response(
        "get_query_execution",
        execution(
            "q-bad",
            "FAILED",
            StateChangeReason=reason,
            AthenaError={"ErrorCategory": 2, "ErrorType": 1006, "ErrorMessage": reason},
        ),
        {"QueryExecutionId": "q-bad"},
    )
    with pytest.raises(BackendError) as info:
        athena.execute("SELECT broken")
    assert not isinstance(info.value, QueryLimitExceeded)
    assert str(info.value) == f"Athena query q-bad failed (FAILED): {reason}"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_a_refused_start_is_a_backend_error(stubbed: Any) -> None:
    athena, stub, clock = stubbed
    stub.add_client_error(
        "start_query_execution",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: athena:StartQueryExecution",
    )
    with pytest.raises(BackendError, match="not authorized to perform: athena:StartQueryExecution"):
        athena.execute("SELECT 1")


def test_the_client_surfaces_limit_errors_from_the_backend(stubbed: Any) -> None:
    athena, stub, clock = stubbed
    q = AuditLogQuery(DAY, DAY, ("billing",))
    expect_start(stub, b.build_count_sql(q, dialect="athena", table_ref=athena.table_ref()), "q-c")
    stub.add_response(
        "get_query_execution", execution("q-c", "RUNNING", 2_000_000), {"QueryExecutionId": "q-c"}
    )
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-c"})
    with pytest.raises(QueryLimitExceeded):
        AuditLogClient(athena, athena.settings).count(q)


# -- the factory ----------------------------------------------------------------------------------------


def test_backend_from_env_switches_by_settings_alone(tmp_path: Any) -> None:
    duck = backend_from_env({"AUDITLOG_DATA_DIR": str(tmp_path)})
    assert isinstance(duck, DuckDBBackend) and duck.data_dir == tmp_path
    duck.close()
    env = {
        "AUDITLOG_BACKEND": "athena",
        "AUDITLOG_ATHENA_DATABASE": "audit_db",
        "AUDITLOG_ATHENA_TABLE": "events",
        "AUDITLOG_ATHENA_WORKGROUP": WORKGROUP,
        "AUDITLOG_ATHENA_OUTPUT_LOCATION": OUTPUT,
        "AUDITLOG_ATHENA_MAX_BYTES_SCANNED": "5000",
        "AUDITLOG_ANALYTICS_S3_URI": "s3://audit-data/analytics/auditlog/",
        "AWS_REGION": "eu-central-1",
    }
    with mock_aws():
        athena = backend_from_env(env, session=boto3.Session(region_name="eu-central-1"))
        assert isinstance(athena, AthenaBackend)
        assert athena.dialect == "athena" and athena.table_ref() == '"audit_db"."events"'
        assert athena.region == "eu-central-1"
        s = athena.settings
        assert (s.athena_workgroup, s.athena_output_location, s.athena_max_bytes_scanned) == (
            WORKGROUP,
            OUTPUT,
            5000,
        )
        assert s.analytics_s3_uri == "s3://audit-data/analytics/auditlog/"
    with pytest.raises(ValueError, match="AUDITLOG_ATHENA_OUTPUT_LOCATION|not an S3 location"):
        with mock_aws():
            backend_from_env({**env, "AUDITLOG_ATHENA_OUTPUT_LOCATION": "athena-results"})


def test_bad_athena_names_are_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="database name"):
        AthenaBackend(replace(ATHENA_SETTINGS, athena_database='x"; DROP'), session=session())
