"""One machinery for every named setting (Datasette style): a frozen dataclass whose fields carry help text.

A settings class derives from `Settings` and declares each field with `setting(default, help)`. Values come
from code (`QuerySettings(max_range_days=31)`) or the environment (`from_env()`, variable
`AUDITLOG_<NAME>` unless the field names another with `env=`). This is a core module: it imports nothing else
of ours, so the ETL, the query library, the event tools and the explorer can all use it.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Demo(Settings):
...     page_rows: int = setting(50, "rows per page")
...     title: str = setting("", "page title", env="DEMO_TITLE")
>>> Demo.from_env({'AUDITLOG_PAGE_ROWS': '20', 'DEMO_TITLE': 'hi'})
Demo(page_rows=20, title='hi')
>>> Demo.help("page_rows"), Demo.variable("title")
('rows per page', 'DEMO_TITLE')
>>> Demo.from_env({'AUDITLOG_PAGE_ROWS': 'lots'})
Traceback (most recent call last):
...
etl.errors.ConfigurationError: AUDITLOG_PAGE_ROWS='lots': expected a int (rows per page)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from etl.errors import ConfigurationError

ENV_PREFIX = "AUDITLOG_"

S = TypeVar("S", bound="Settings")


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    env: str | None = None,
    default_factory: Callable[[], Any] | None = None,
    repr: bool = True,
) -> Any:
    """A dataclass field with its help text and, optionally, a variable other than AUDITLOG_<NAME>."""
    metadata = {"help": help, "env": env}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, repr=repr, metadata=metadata)
    return dataclasses.field(default=default, repr=repr, metadata=metadata)


def _convert(raw: str, current: object, var: str, help_text: str) -> object:
    """One environment value as the type of the field's default; ConfigurationError names the variable."""
    try:
        if isinstance(current, bytes):
            return raw.encode("utf-8")
        if isinstance(current, bool):
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
    except ValueError:
        kind = type(current).__name__
        raise ConfigurationError(f"{var}={raw!r}: expected a {kind} ({help_text})") from None
    return raw



def read_json_setting(path: str | os.PathLike[str], variable: str) -> tuple[Any, str]:
    """The parsed JSON of a settings file named by `variable`, and the `VAR='path'` text that error messages
    start with; a missing, unreadable or malformed file is a ConfigurationError naming both."""
    where = f"{variable}={os.fspath(path)!r}"
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh), where
    except OSError as exc:
        raise ConfigurationError(f"{where}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigurationError(f"{where}: not valid JSON ({exc})") from None
class Settings:
    """Mixin for frozen dataclasses of named settings: help text, variable names and `from_env`."""

    # Declared (never set here) so type checkers treat every subclass as the dataclass it is decorated into.
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @classmethod
    def _field(cls, name: str) -> dataclasses.Field[Any]:
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f
        known = ", ".join(f.name for f in dataclasses.fields(cls))
        raise KeyError(f"unknown setting {name!r}; known: {known}")

    @classmethod
    def help(cls, name: str) -> str:
        """The help text of one setting; KeyError names the known settings."""
        return str(cls._field(name).metadata.get("help", ""))

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable one setting is read from."""
        return str(cls._field(name).metadata.get("env") or ENV_PREFIX + name.upper())

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every setting's name, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_env(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
        """Defaults overridden by the environment; an unusable value raises ConfigurationError."""
        env = os.environ if environ is None else environ
        base = cls()
        changes: dict[str, object] = {}
        for name in cls.names():
            var = cls.variable(name)
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            changes[name] = _convert(raw, getattr(base, name), var, cls.help(name))
        return dataclasses.replace(base, **changes) if changes else base


@dataclasses.dataclass(frozen=True)
class EtlSettings(Settings):
    """The local ETL's named limits (`auditlog etl`); defaults fit a 2-core, 4 GB machine running two days
    at once."""

    lock_timeout_seconds: float = setting(
        60.0,
        "how long a run waits for another run of the same arrival day to finish before it fails (seconds)",
        env="AUDITLOG_ETL_LOCK_TIMEOUT_SECONDS",
    )
    max_object_bytes: int = setting(
        256 * 1024 * 1024,
        "largest decompressed size of one raw object (bytes); a larger one is quarantined whole, unread",
        env="AUDITLOG_ETL_MAX_OBJECT_BYTES",
    )
    max_record_bytes: int = setting(
        1024 * 1024,
        "longest raw line (bytes, 4x EventBridge's 256 KB event limit); a longer one is quarantined as "
        "record_too_large",
        env="AUDITLOG_ETL_MAX_RECORD_BYTES",
    )
    watch_interval_seconds: float = setting(
        5.0,
        "how often `auditlog etl --watch` looks for new raw objects and re-runs the current day (seconds)",
        env="AUDITLOG_ETL_WATCH_INTERVAL_SECONDS",
    )
