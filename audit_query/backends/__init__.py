"""Query engines: `Backend` is the protocol, `DuckDBBackend` runs over the local Parquet folder."""

from .base import Backend, ResultSet

__all__ = ["Backend", "ResultSet", "DuckDBBackend"]


def __getattr__(name: str) -> object:
    # DuckDB is imported only when asked for, so an Athena-only install need not load it.
    if name == "DuckDBBackend":
        from .duckdb import DuckDBBackend

        return DuckDBBackend
    raise AttributeError(name)
