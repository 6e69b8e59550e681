"""Search page (AppTest): the changed-field questions of issue 13 typed into the form, answered as a plain
DuckDB query over Before/After of the same Parquet says, the grid's "Changed fields" column, and a clear
message for a value without a field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from audit_query import AuditLogClient, AuditLogQuery, QuerySettings
from audit_query.backends.duckdb import DuckDBBackend
from tests.audit_query import changes_data as cd
from tests.explorer.conftest import APP, open_more_filters, texts

TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)
SUBMIT = "FormSubmitter:search_form-Search"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("search-changes")
    cd.build(folder, TODAY, legacy=False)
    return folder


@pytest.fixture
def app(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AUDITLOG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AUDITLOG_ACCESS_LOG", "off")
    for var in ("AUDITLOG_AUTH_MAPPING", "AUDITLOG_MASKING_RULES", "AUDITLOG_BACKEND"):
        monkeypatch.delenv(var, raising=False)

    def make(**params: str) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        at.switch_page("pages/search.py")
        for k, v in params.items():
            at.query_params[k] = v
        return at.run()

    return make


def grid(at: AppTest):
    assert not at.exception and not at.error, (at.exception, at.error)
    return at.dataframe[0].value


def test_which_orders_went_to_status_cancelled_yesterday(app, data_dir: Path) -> None:
    at = open_more_filters(app())
    at.date_input(key="s_from").set_value(YESTERDAY)
    at.date_input(key="s_to").set_value(YESTERDAY)
    at.text_input(key="s_chf").input("status")
    at.text_input(key="s_chto").input("Cancelled")
    at.button(key=SUBMIT).click().run()
    frame = grid(at)
    want = cd.oracle(data_dir, cd.WENT_TO_CANCELLED, [YESTERDAY.isoformat()])
    assert list(frame["Entity id"]) == [e for _, e, _ in want] and want
    assert set(frame["Changed fields"]) == {"status"}
    assert at.query_params["chf"] == "status" and at.query_params["chto"] == "Cancelled"
    assert any(f"{len(want)} matching rows" in c for c in texts(at.caption))


def test_who_changed_the_email_of_user_u(app, data_dir: Path) -> None:
    at = open_more_filters(app())
    at.text_input(key="s_eid").input(cd.USER_U)
    at.text_input(key="s_chf").input("email")
    at.button(key=SUBMIT).click().run()
    frame = grid(at)
    want = cd.oracle(data_dir, cd.CHANGED_EMAIL_OF, [cd.USER_U])
    assert list(frame["Actor"]) == [a for _, _, a in want] and len(want) == 2


def test_the_grid_names_each_rows_changed_fields(app, data_dir: Path) -> None:
    frame = grid(app())
    with DuckDBBackend(data_dir) as backend:
        client = AuditLogClient(backend, QuerySettings())
        rows = client.query(AuditLogQuery(TODAY - timedelta(days=6), TODAY, tuple(client.sources()))).rows
    assert list(frame["Changed fields"]) == [", ".join(f for f, _, _ in r.Changes or ()) for r in rows]
    shown = dict(zip(frame["Entity id"], frame["Changed fields"], strict=False))
    assert shown["o-16"] == "prev, status" and shown["o-12"] == "coupon"


def test_a_value_without_a_field_says_which_field_to_fill(app) -> None:
    at = app(chto="Cancelled")
    assert not at.exception
    message = " ".join(texts(at.error))
    assert message.startswith("**Changed to**") and '"Changed field" on the Search form' in message
    assert not at.dataframe  # no rows shown for a filter that cannot be applied
