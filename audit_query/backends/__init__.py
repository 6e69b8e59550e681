"""Query engines: `Backend` is the protocol, `DuckDBBackend` runs over the local Parquet folder,
`AthenaBackend` over the Athena table; `backend_from_env()` picks one by settings alone."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from etl.errors import ConfigurationError
from etl.layout import data_dir_from_env

from .base import Backend, ResultSet

__all__ = ["AthenaBackend", "Backend", "DuckDBBackend", "ResultSet", "backend_from_env", "backend_name"]

BACKEND_ENV = "AUDITLOG_BACKEND"
BACKENDS = ("duckdb", "athena")


def __getattr__(name: str) -> object:
    # Engines are imported only when asked for: an Athena-only install need not load DuckDB, and a local
    # one need not load pyathena.
    if name == "DuckDBBackend":
        from .duckdb import DuckDBBackend

        return DuckDBBackend
    if name == "AthenaBackend":
        from .athena import AthenaBackend

        return AthenaBackend
    raise AttributeError(name)


def backend_name(environ: Mapping[str, str] | None = None) -> str:
    """The engine `$AUDITLOG_BACKEND` names ("duckdb" when unset); an unknown name raises ConfigurationError.

    >>> backend_name({"AUDITLOG_BACKEND": "oracle"})
    Traceback (most recent call last):
    ...
    etl.errors.ConfigurationError: AUDITLOG_BACKEND='oracle' is not a backend; use one of: duckdb, athena
    """
    env = os.environ if environ is None else environ
    name = (env.get(BACKEND_ENV) or "duckdb").strip().lower()
    if name not in BACKENDS:
        raise ConfigurationError(
            f"{BACKEND_ENV}={name!r} is not a backend; use one of: {', '.join(BACKENDS)}"
        )
    return name


def backend_from_env(
    environ: Mapping[str, str] | None = None, *, data_dir: Path | str | None = None, **kwargs: Any
) -> Backend:
    """The backend `$AUDITLOG_BACKEND` names: "duckdb" (default) over `data_dir`, else $AUDITLOG_DATA_DIR,
    else ./data; or "athena" configured by the AUDITLOG_ATHENA_* variables and AWS_REGION.

    Extra keyword arguments go to the backend's constructor. An unknown name raises
    ConfigurationError (backend_name).
    """
    from ..settings import QuerySettings

    env = os.environ if environ is None else environ
    if backend_name(env) == "athena":
        from .athena import athena_backend_from_env

        return athena_backend_from_env(env, **kwargs)
    from .duckdb import DuckDBBackend

    folder = data_dir if data_dir is not None else data_dir_from_env(env)
    return DuckDBBackend(folder, settings=QuerySettings.from_env(env), **kwargs)
