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
    assert len(at.table) >= len(expected)  # one diff table per change (plus unchanged-field tables)


def test_the_form_puts_the_id_in_the_url_and_unknown_ids_say_so(app):
    at = app(PAGE).run()
    at.text_input(key="c_id").input("req-unknown")
    at.button(key="FormSubmitter:corr_form-Show").click().run()
    assert at.query_params["corr"] == "req-unknown"
    assert any(escape_md("Nothing found for 'req-unknown'") in i for i in texts(at.info))
