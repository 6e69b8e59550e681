"""Entity page (AppTest over real demo data): an order's timeline with its children, drill links, state at."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

from explorer.widgets import escape_md
from tests.explorer.conftest import texts

PAGE = "pages/entity.py"


def order_with_children(lib, demo):
    for oid in demo[1].sample_order_ids:
        rows = lib.history(oid)
        if any(r.EntityParentId == oid for r in rows):
            return oid, rows
    raise AssertionError("no sample order with children")


def test_a_shared_order_link_shows_every_change_of_it_and_its_children(app, lib, demo):
    oid, rows = order_with_children(lib, demo)
    at = app(PAGE, eid=oid).run()
    assert not at.exception and not at.error
    assert at.header[0].value == f"Order {oid}"
    assert any(c.startswith(f"{len(rows)} changes to ") for c in texts(at.caption))
    (timeline,) = [h.proto.body for h in at.get("html") if "entity-timeline" in h.proto.body]
    assert timeline.count("border-radius:50%") == len(rows)  # one dot per change
    assert all(f">{r.EntityType} {r.EntityId}</div>" in timeline for r in rows)  # one lane per entity
    children = {r.EntityId for r in rows if r.EntityParentId == oid}
    links = {p.proto.label: p.proto.query_string for p in at.get("page_link")}
    for child in children:
        assert any(
            lab.endswith(f" {escape_md(child)}") and parse_qs(qs)["eid"] == [child]
            for lab, qs in links.items()
        )
    # a compact list, one row per change, newest first; no full diff until one is chosen
    listed = at.dataframe[0].value
    assert list(listed["Entity"]) == [f"{r.EntityType} {r.EntityId}" for r in rows]
    assert list(listed.columns) == ["Time (UTC)", "Action", "Entity", "Actor", "Changed fields"]
    assert not [m for m in texts(at.markdown) if " · by " in m] and not at.table


def test_a_chosen_change_shows_its_full_diff_and_links(app, lib, demo):
    oid, rows = order_with_children(lib, demo)
    chosen = next(r for r in rows if r.Action == "Update")
    at = app(PAGE, eid=oid, sel=chosen.Id).run()
    assert not at.exception and not at.error
    headers = [m for m in texts(at.markdown) if " · by " in m]
    assert len(headers) == 1 and escape_md(f"{chosen.EntityType} {chosen.EntityId}") in headers[0]
    assert at.table, "its field-by-field diff"
    assert any(p.proto.label.startswith("Correlation") for p in at.get("page_link"))


def test_a_child_links_up_to_its_parent(app, lib, demo):
    oid, rows = order_with_children(lib, demo)
    child = next(r.EntityId for r in rows if r.EntityParentId == oid)
    at = app(PAGE, eid=child).run()
    assert not at.exception
    labels = [p.proto.label for p in at.get("page_link")]
    assert f"Up to parent Order {oid}" in labels


def test_state_at_a_moment_before_the_order_existed_and_after_its_creation(app, lib, demo):
    oid, rows = order_with_children(lib, demo)
    created = min(r.Timestamp for r in rows if r.EntityId == oid)
    just_before = (created - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    just_after = (created + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    at = app(PAGE, eid=oid, at=just_before).run()
    assert not at.exception
    assert any(f"Order {oid}" in m and "did not exist" in m for m in texts(at.markdown))
    assert not any(e.label.startswith(f"Order {oid} · ") for e in at.expander)
    at = app(PAGE, eid=oid, at=just_after).run()
    assert not at.exception
    assert any(e.label.startswith(f"Order {oid} · as of ") for e in at.expander)
    assert not any(f"Order {oid}" in m and "did not exist" in m for m in texts(at.markdown))
    at = app(PAGE, eid=oid).run()  # the default: the latest state
    assert any(e.label.startswith(f"Order {oid} · as of ") for e in at.expander)


def test_form_submission_puts_the_entity_in_the_url(app, lib, demo):
    oid, _ = order_with_children(lib, demo)
    at = app(PAGE).run()
    at.text_input(key="e_id").input(oid)
    at.checkbox(key="e_children").uncheck()
    at.button(key="FormSubmitter:entity_form-Show history").click().run()
    assert at.query_params["eid"] == oid and at.query_params["children"] == "0"
    assert not any(" · by " in m and "OrderItem" in m for m in texts(at.markdown))


def test_an_unknown_id_says_so_and_suggests_widening(app):
    at = app(PAGE, eid="no-such-entity").run()
    said = escape_md("No changes to 'no-such-entity'")
    assert any(said in i and "widen" in i for i in texts(at.info))


def test_a_too_long_range_is_a_message_naming_the_field(app):
    at = app(PAGE, eid="1", **{"from": "2020-01-01", "to": "2026-01-01"}).run()
    assert not at.exception
    assert any("Date range" in e and "at most 400 days" in e for e in texts(at.error))


def test_a_deleted_entity_says_so_in_its_header_and_its_state(app, lib):
    from datetime import UTC, datetime

    from audit_query import AuditLogQuery
    from explorer.fmt import time_text

    today = datetime.now(UTC).date()
    week = AuditLogQuery(today - timedelta(days=6), today, tuple(lib.sources()), actions=("Delete",))
    gone = next(r for r in lib.query(week).rows if lib.history(r.EntityId)[0].Action == "Delete")
    at = app(PAGE, eid=gone.EntityId).run()
    assert not at.exception and not at.error
    said = texts(at.markdown)
    assert any("Deleted at " + time_text(gone.Timestamp) in m for m in said), said
    label = escape_md(f"{gone.EntityType} {gone.EntityId}")
    assert any(m == f"**{label}**: deleted at {time_text(gone.Timestamp)}" for m in said), said
