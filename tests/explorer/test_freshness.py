"""No stale cache (issue 12, item 3): results are keyed on the data version, not only the TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from etl.local import run_etl
from tests.etl.conftest import make_event, write_raw
from tests.explorer.conftest import APP, texts


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, datetime]:
    """A data folder with one stored event of today, a one-hour cache TTL and the local user."""
    now = datetime.now(UTC)
    event_time = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_raw(tmp_path, now, [make_event(1, time=event_time)], name="a.json.gz")
    run_etl(tmp_path, now.date())
    for var in ("AUDITLOG_AUTH_MAPPING", "AUDITLOG_MASKING_RULES", "AUDITLOG_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUDITLOG_CACHE_TTL_SECONDS", "3600")
    return tmp_path, now


def _caption(at: AppTest, start: str) -> str:
    return next(c for c in texts(at.caption) if c.startswith(start))


def test_a_new_object_and_a_finished_run_show_at_the_next_page_view(fresh: tuple[Path, datetime]) -> None:
    data_dir, now = fresh
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert "· 0 events not yet processed" in _caption(at, "data as of ")
    assert _caption(at, "1 matching row").startswith("1 matching row ")
    event_time = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_raw(data_dir, now, [make_event(2, time=event_time)], name="b.json.gz")
    at.run()
    assert "· 1 event not yet processed" in _caption(at, "data as of ")
    run_etl(data_dir, now.date())
    at.run()  # within the TTL: the old cached count must not be served
    assert "· 0 events not yet processed" in _caption(at, "data as of ")
    assert any(c.startswith("2 matching rows") for c in texts(at.caption)), texts(at.caption)


def test_every_page_with_data_has_a_refresh_control(fresh: tuple[Path, datetime]) -> None:
    for page in ("pages/search.py", "pages/entity.py", "pages/pipeline.py"):
        at = AppTest.from_file(str(APP), default_timeout=60).run()
        at.switch_page(page).run()
        assert not at.exception, page
        button = at.button(key="data_refresh")
        assert button.label == "Refresh"
        button.click().run()
        assert not at.exception, page


def test_the_pipeline_page_shows_lag_per_source_and_objects_waiting(
    fresh: tuple[Path, datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, now = fresh
    monkeypatch.setenv("AUDITLOG_RUNS_LOCATION", str(data_dir))
    write_raw(data_dir, now, [make_event(2)], name="b.json.gz")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("pages/pipeline.py").run()
    assert not at.exception
    assert any(c.startswith("1 raw object waiting for a run") for c in texts(at.caption)), texts(at.caption)
    lag = next(f.value for f in at.dataframe if "Lag" in f.value.columns)
    assert list(lag["Source"]) == ["shop.orders"]
    assert lag["Lag"][0].endswith("min ago")


def test_a_new_event_is_marked_on_search_and_entity_then_stored_once(fresh: tuple[Path, datetime]) -> None:
    data_dir, now = fresh
    event_time = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_raw(data_dir, now, [make_event(2, time=event_time)], name="b.json.gz")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    grid = at.dataframe[0].value
    assert list(grid["Stored"]) == ["not yet processed", ""]  # newest first: the new event is the waiting one
    assert _caption(at, "2 matching rows")
    entity = AppTest.from_file(str(APP), default_timeout=60).run()
    entity.switch_page("pages/entity.py")
    entity.query_params["eid"] = "o-2"
    entity.run()
    assert not entity.exception
    changes = next(f.value for f in entity.dataframe if "Stored" in f.value.columns)
    assert list(changes["Stored"]) == ["not yet processed"]
    assert any("Dashed ring: not yet processed" in c for c in texts(entity.caption))
    run_etl(data_dir, now.date())
    at.run()
    grid = at.dataframe[0].value
    assert "Stored" not in grid.columns and len(grid) == 2  # stored now: same rows, none twice
    assert _caption(at, "2 matching rows")


def test_one_page_view_lists_the_raw_folders_once(
    fresh: tuple[Path, datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit_query.tail as tail_mod

    data_dir, now = fresh
    listings: list[Path] = []
    real = tail_mod.data_version

    def listing(folder: Path | str, now: datetime | None = None) -> tail_mod.DataVersion:
        listings.append(Path(folder))
        return real(folder, now=now)

    monkeypatch.setattr(tail_mod, "data_version", listing)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    event_time = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    write_raw(data_dir, now, [make_event(2, time=event_time)], name="b.json.gz")
    listings.clear()
    at.run()  # a new object: every read of this view misses the cache and serves the tail
    assert not at.exception
    assert "· 1 event not yet processed" in _caption(at, "data as of ")
    assert list(at.dataframe[0].value["Stored"]) == ["not yet processed", ""]
    assert listings == [data_dir], "the caption, the cache key and the backend's tail share one listing"
