"""A correlation lookup goes through the ETL's run index (correlation ids share its Key column): a request
300 days old is found by opening only the partitions that hold it, with the same rows as the full scan.

The data comes from the real local ETL (one run 300 days back, recent runs, the same request id spread over
two sources); the oracle is an independent DuckDB query over the same Parquet files.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from audit_query import AuditLogClient
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.model import AuditLogQuery
from etl import layout
from etl.local import run_etl
from tests.audit_query.conftest import SETTINGS
from tests.etl.conftest import make_event, write_raw

TODAY = date(2026, 11, 27)
OLD = TODAY - timedelta(days=300)
RECENT = (TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY)
SOURCES = ("shop.billing", "shop.orders")
OLD_REQUEST = "req-300-days-ago"


def _events(day: date, with_old_request: bool) -> list[dict]:
    """Ten events per run in two sources, each its own request; the old run's first three share one."""
    events = []
    for i in range(10):
        corr = OLD_REQUEST if with_old_request and i < 3 else f"req-{day.isoformat()}-{i}"
        events.append(
            make_event(
                day.toordinal() * 100 + i,
                time=f"{day.isoformat()}T{1 + i:02d}:00:00Z",
                source=SOURCES[i % 2],
                correlation_id=corr,
            )
        )
    return events


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data folder written by the ETL with its index, copy without the index: the full-scan fallback)."""
    data_dir = tmp_path_factory.mktemp("indexed")
    for day in (OLD, *RECENT):
        write_raw(data_dir, datetime(day.year, day.month, day.day, 23), _events(day, day == OLD))
        run_etl(data_dir, day)
    plain = tmp_path_factory.mktemp("plain")
    shutil.copytree(data_dir / layout.ANALYTICS_PREFIX, plain / layout.ANALYTICS_PREFIX)
    return data_dir, plain


def _oracle(data_dir: Path, correlation_id: str) -> tuple[list[str], set[str]]:
    """(Ids of the rows with `correlation_id` in time order, the data files of the partitions holding it)."""
    root = data_dir / layout.ANALYTICS_PREFIX
    hive = "hive_partitioning = true, hive_types = {'dt': VARCHAR, 'source': VARCHAR}"
    rows = duckdb.execute(
        f"SELECT Id, dt, source FROM read_parquet('{root.as_posix()}/*/*/*.parquet', {hive}) "
        "WHERE CorrelationId = $c ORDER BY Timestamp, Id",
        {"c": correlation_id},
    ).fetchall()
    files = {str(p) for _, dt, src in rows for p in (root / f"dt={dt}" / f"source={src}").glob("*.parquet")}
    return [r[0] for r in rows], files


def _query(correlation_id: str) -> AuditLogQuery:
    return AuditLogQuery(TODAY - timedelta(days=399), TODAY, SOURCES, correlation_id=correlation_id)


def _listed(table_ref: str) -> set[str]:
    return set(re.findall(r"'([^']+\.parquet)'", table_ref))


def test_a_300_day_old_request_opens_only_its_partitions(folders: tuple[Path, Path]) -> None:
    data_dir, plain = folders
    ids, files = _oracle(data_dir, OLD_REQUEST)
    assert len(ids) == 3 and len(files) == 2  # both sources of the old day, nothing recent
    with DuckDBBackend(data_dir) as backend, DuckDBBackend(plain) as full:
        assert _listed(backend.table_ref(_query(OLD_REQUEST))) == files
        everything = _listed(full.table_ref(_query(OLD_REQUEST)))
        assert len(everything) == 8 and files < {
            str(data_dir / Path(f).relative_to(plain)) for f in everything
        }
        assert backend.table_ref(_query("absent")).startswith("(SELECT CAST(NULL")  # nothing to open


@pytest.mark.parametrize("folder", [0, 1], ids=["indexed", "no-index"])
def test_correlation_through_the_index_returns_the_oracles_rows(
    folders: tuple[Path, Path], folder: int
) -> None:
    data_dir = folders[folder]
    with DuckDBBackend(data_dir) as backend:
        rows = AuditLogClient(backend, SETTINGS).correlation(
            OLD_REQUEST, date_from=TODAY - timedelta(days=399), date_to=TODAY
        )
    assert [r.Id for r in rows] == _oracle(folders[0], OLD_REQUEST)[0]
    assert {r.source for r in rows} == set(SOURCES)
