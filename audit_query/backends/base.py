"""The interface every query engine implements (DuckDB locally, Athena in the cloud).

A backend runs SQL that `audit_query.sql` built and knows nothing about filters; the client knows nothing
about the engine beyond `dialect` and `table_ref()`. Same public API, same rows for the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from ..model import AuditLogQuery, QueryStats, UnreadableFile


class ResultSet(list[dict[str, Any]]):
    """Rows as dicts keyed by column name (a plain list), with the engine's `stats` attached and the stored
    files the engine had to leave out (`unreadable`; only a backend that reads files itself fills it)."""

    def __init__(
        self,
        rows: list[dict[str, Any]] | None = None,
        stats: QueryStats | None = None,
        unreadable: tuple[UnreadableFile, ...] = (),
    ) -> None:
        super().__init__(rows or [])
        self.stats = stats
        self.unreadable = unreadable


@dataclass(frozen=True)
class Merge:
    """How a backend that reads the not-yet-processed tail apart from the stored rows (Athena) combines the
    two results of one statement: "rows" (the statement again over both row sets: same order and limit),
    "count" (the sum) or "counts" (sums per key, days and hours in time order when `time_order`, else
    largest first)."""

    kind: Literal["rows", "count", "counts"] = "rows"
    time_order: bool = False


ROWS = Merge()


@runtime_checkable
class Backend(Protocol):
    """A query engine over the audit table."""

    #: SQL dialect the builder must produce for this engine: "duckdb" or "athena".
    dialect: str

    #: Whether a result page is first read from the one day it starts in (AuditLogClient.query): worth a
    #: second query where queries cost milliseconds (DuckDB), not where each starts up for a second (Athena).
    probe_first_day: bool

    def table_ref(self, query: AuditLogQuery | None = None) -> str:
        """The SQL text naming the audit table in FROM (built by the backend, never from user input).

        `query`, when given, lets an engine that reads files itself name only the partitions the query's
        dates and sources can touch; an engine that prunes partitions on its own may ignore it.
        """
        ...

    def execute(self, sql: str) -> ResultSet:
        """Run one SELECT; return every row as a dict. Engine failures raise BackendError."""
        ...

    def list_sources(self) -> list[str]:
        """Every source that has data, sorted (from the storage listing, cached briefly)."""
        ...

    def close(self) -> None:
        """Release connections; the backend is unusable afterwards."""
        ...
