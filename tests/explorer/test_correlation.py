"""Correlation page (AppTest over real demo data): one request's changes across sources, in time order."""

from __future__ import annotations

from explorer.widgets import escape_md
from tests.explorer.conftest import texts

PAGE = "pages/correlation.py"


def test_a_checkout_correlation_lists_every_change_across_sources(app, lib, demo):
    oid = demo[1].sample_order_ids[0]
    create = next(r for r in lib.history(oid) if r.EntityId == oid and r.Action == "Create")
    expected = lib.correlation(create.CorrelationId)
    assert len({r.source for r in expected}) > 1
    at = app(PAGE, corr=create.CorrelationId).run()
    assert not at.exception and not at.error
    grid = at.dataframe[0].value
    assert list(grid["Entity id"]) == [r.EntityId for r in expected]
    assert list(grid["Time (UTC)"]) == sorted(grid["Time (UTC)"])
    assert len(at.table) >= len(expected)  # one diff table per change (each adds or changes fields)


def test_the_form_puts_the_id_in_the_url_and_unknown_ids_say_so(app):
    at = app(PAGE).run()
    at.text_input(key="c_id").input("req-unknown")
    at.button(key="FormSubmitter:corr_form-Show").click().run()
    assert at.query_params["corr"] == "req-unknown"
    assert any(escape_md("Nothing found for 'req-unknown'") in i for i in texts(at.info))


def test_an_old_request_is_found_with_the_forms_own_dates(app, lib):
    from datetime import UTC, datetime, timedelta

    from tests.explorer.conftest import OLD, OLD_DAYS

    old = datetime.now(UTC).date() - timedelta(days=OLD_DAYS)
    at = app(PAGE).run()
    at.text_input(key="c_id").input(OLD.correlation_id)
    at.date_input(key="c_from").set_value(old - timedelta(days=3))
    at.date_input(key="c_to").set_value(old + timedelta(days=3))
    at.button(key="FormSubmitter:corr_form-Show").click().run()
    assert not at.exception and not at.error
    assert at.query_params["from"] == str(old - timedelta(days=3))
    assert list(at.dataframe[0].value["Correlation id"]) == [OLD.correlation_id]
    assert any(
        c.startswith("1 change to 1 entity across 1 source")
        and f"between {old - timedelta(days=3)} and {old + timedelta(days=3)}" in c
        for c in texts(at.caption)
    )


def test_an_old_request_is_found_without_typing_dates(app, lib):
    """Issue 13: "what did request R change" when R is older than 7 days, without editing the URL."""
    from datetime import UTC, datetime, timedelta

    from tests.explorer.conftest import OLD, OLD_DAYS

    assert OLD_DAYS > lib.settings.max_range_days
    at = app(PAGE, corr=OLD.correlation_id).run()
    assert not at.exception and not at.error
    assert list(at.dataframe[0].value["Correlation id"]) == [OLD.correlation_id]
    assert [r.Id for r in lib.correlation(OLD.correlation_id)] == [
        r.Id
        for r in lib.correlation(
            OLD.correlation_id,
            date_from=datetime.now(UTC).date() - timedelta(days=OLD_DAYS + 1),
            date_to=datetime.now(UTC).date(),
        )
    ]
