# ruff: noqa: E501
"""`python -m bench.probe_ab`: the page probe A/B in one process, alternated per repetition: before (the first
day, else the whole range) and after (the first day, then the next 2, 4, ... days), over the 365-day bench
table (`data.table(365, 10_000)`); both must give the same page; p50 of 15 each and the ratio."""

import statistics
import time
from dataclasses import replace
from datetime import timedelta

from audit_query import AuditLogClient, AuditLogQuery, sql
from audit_query.backends.duckdb import DuckDBBackend
from audit_query.client import _start_day
from bench import data


class Before(AuditLogClient):
    """The client with the probe as it was: the first day, else the whole range."""

    def _page_rows(self, q, position):
        d = self.backend.dialect
        day = _start_day(q, position) if self.backend.probe_first_day else None
        if day is not None:
            probe = replace(q, date_from=day, date_to=day)
            found = self._records(probe, lambda ref: sql.build_page_sql(probe, position=position, dialect=d, table_ref=ref))
            if len(found[0]) > q.limit:
                return found
        return self._records(q, lambda ref: sql.build_page_sql(q, position=position, dialect=d, table_ref=ref))


def main() -> None:
    """Print each query's p50 before and after, and after/before."""
    end = data.END_DATE
    backend = DuckDBBackend(data.table(365, 10_000))
    after, before = AuditLogClient(backend), Before(backend)
    src = tuple(after.sources())
    week = AuditLogQuery(end - timedelta(days=6), end, src)
    queries = {
        "changed_field_value": replace(week, changed_fields=("status",), changed_to="cancelled"),
        "search_first_page": week,
        "actor_contains_rare": replace(week, actor_contains="zz"),
    }
    for name, q in queries.items():
        assert [r.Id for r in after.query(q).rows] == [r.Id for r in before.query(q).rows], name
        tb, ta = [], []
        for _ in range(15):
            for client, out in ((before, tb), (after, ta)):
                t = time.perf_counter()
                client.query(q)
                out.append((time.perf_counter() - t) * 1000)
        b, a = statistics.median(tb), statistics.median(ta)
        print(f"{name}: before p50 {b:.1f} ms, after p50 {a:.1f} ms, after/before {a / b:.2f}")


if __name__ == "__main__":
    main()
