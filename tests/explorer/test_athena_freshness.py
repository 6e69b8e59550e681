"""On AWS the Search and Entity pages say how fresh the data is, as locally (issue 12 item 3): with the raw
bucket set (AUDITLOG_RAW_S3_URI), "data as of <when the tail was listed> · N events not yet processed" over
the Athena backend's tail (moto S3, as tests/audit_query/test_athena_tail.py); without it, nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from audit_query import AuditLogClient
from audit_query.backends.athena import AthenaBackend
from etl.local import run_etl
from explorer import data
from tests.audit_query import test_athena_tail as athena_tail
from tests.audit_query.test_athena_backend import session

stack = athena_tail.stack  # the moto buckets mirroring a local data folder


class Captions:
    """Stands in for a Streamlit container: keeps the caption texts."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def caption(self, text: str, **kwargs: Any) -> None:
        self.texts.append(text)


def _caption_over(backend: AthenaBackend, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("AUDITLOG_BACKEND", "athena")
    monkeypatch.setattr(data, "_client", lambda name, folder: AuditLogClient(backend))
    out = Captions()
    data.freshness_caption(out)
    return out.texts


def test_on_athena_the_caption_gives_the_listing_time_and_the_events_waiting(
    stack: athena_tail.Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = stack.data_dir
    athena_tail._events(folder, "ab", 1)
    run_etl(folder, athena_tail.DAY)
    athena_tail._events(folder, "cd", 3)  # two objects waiting, one event each
    stack.sync()
    with athena_tail._athena(stack) as athena:  # its tail lists at ARRIVAL (04:00 UTC)
        assert _caption_over(athena, monkeypatch) == ["data as of 04:00:00 UTC · 2 events not yet processed"]


def test_on_athena_without_a_raw_bucket_the_caption_says_nothing(
    stack: athena_tail.Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    athena_tail._events(stack.data_dir, "a", 1)
    stack.sync()
    settings = replace(athena_tail.SETTINGS, raw_s3_uri="")
    with AthenaBackend(settings, session=session(), serve_tail=True) as athena:
        assert _caption_over(athena, monkeypatch) == []


def test_on_athena_a_new_raw_object_renews_the_cache_key(
    stack: athena_tail.Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = stack.data_dir
    athena_tail._events(folder, "ab", 1)
    run_etl(folder, athena_tail.DAY)
    stack.sync()
    monkeypatch.setenv("AUDITLOG_BACKEND", "athena")
    with athena_tail._athena(stack) as athena:
        monkeypatch.setattr(data, "_client", lambda name, folder: AuditLogClient(athena))
        first = data.client()[1]
        assert data.client()[1] == first  # nothing new: cached results still answer
        athena_tail._events(folder, "c", 3)
        stack.sync()
        # the grid must show what the caption counts: results cached before the object landed are not reused
        assert data.client()[1] != first
        assert _caption_over(athena, monkeypatch) == ["data as of 04:00:00 UTC · 1 event not yet processed"]
