"""Issue 14.7's small things on the pages: a long value can be read whole, messages name the form's labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest

from tests.explorer.conftest import html_cells, html_tags, texts

LONG = "word " * 499 + "END"  # 2,499 characters: a grid cell shows about 65 of them


def order_change(event_id: str, entity_id: str, *, name: str, actor: str, before, after):
    """An Order update of 2026-11-27 05:01:02 UTC by a User on the web channel, with these values (the
    AppTest scripts below import it: a script function carries no module globals)."""
    from audit_query import AuditRecord

    return AuditRecord(
        Id=f"{event_id}:0",
        EventId=event_id,
        Timestamp=datetime(2026, 11, 27, 5, 1, 2, tzinfo=UTC),
        DetailType="OrderUpdated",
        ActorName=actor,
        ActorType="User",
        EntityId=entity_id,
        EntityName=name,
        EntityType="Order",
        EntityParentId=None,
        EntityParentName=None,
        EntityParentType=None,
        ChannelCode="web",
        ChannelAccountCode=None,
        Action="Update",
        Before=before,
        After=after,
        CorrelationId=f"req-{event_id[1:]}",
        dt="2026-11-27",
        source="shop.orders",
    )


def _change_with_long_values() -> None:
    import json

    from explorer.widgets import diff_view
    from tests.explorer.test_small_things import order_change

    long = "word " * 499 + "END"
    record = order_change(
        "r1",
        "order-1",
        name=long,
        actor="alice",
        before=json.dumps({"note": "short"}),
        after=json.dumps({"note": long}),
    )
    diff_view(record, "t")


def test_a_2500_character_value_can_be_read_whole():
    at = AppTest.from_function(_change_with_long_values, args=(), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert LONG not in html_cells(at.html)  # closed, "Every field in full" is not drawn at all
    at.session_state["t_full"] = True  # the user opens it (the page runs again)
    at.run()
    expander = next(e for e in at.expander if e.label == "Every field in full")
    cells = html_cells(expander.html)
    assert LONG in cells  # the entity name whole, as its own cell
    after = [c for c in cells if c.startswith("{")]
    assert any(LONG in c and '\n  "note": ' in c for c in after)  # the After JSON indented, the note whole


def _change_with_markup() -> None:
    from explorer.widgets import full_record
    from tests.explorer.test_small_things import order_change

    markup = "<b>bold</b> <a href='http://evil.example'>click</a> <img src=x onerror=alert(1)>"
    after = '{"note": "' + markup.replace("'", "") + '"}'
    full_record(order_change("r2", "o-2", name=markup, actor=markup, before=None, after=after), "t")


def test_markup_in_event_data_shows_as_text_in_every_field_in_full():
    at = AppTest.from_function(_change_with_markup, args=(), default_timeout=30)
    at.session_state["t_full"] = True  # "Every field in full" opened
    at.run()
    assert not at.exception, at.exception
    assert html_tags(at.html) <= {"table", "tr", "th", "td", "pre"}  # no tag from the data: no link, no image
    cells = html_cells(at.html)
    assert "<b>bold</b> <a href='http://evil.example'>click</a> <img src=x onerror=alert(1)>" in cells
    assert any("<a href=http://evil.example>click</a>" in c for c in cells)  # the After JSON, as text


def test_a_date_order_message_names_the_form_fields_not_date_from(app):
    at = app().run()
    today = datetime.now(UTC).date()
    at.date_input(key="s_from").set_value(today)
    at.date_input(key="s_to").set_value(today - timedelta(days=3))
    at.button(key="FormSubmitter:search_form-Search").click().run()
    assert not at.exception
    errors = [e.replace("\\", "") for e in texts(at.error)]  # as read: without Markdown escapes
    assert errors, "a To date before the From date is refused"
    assert not any("date_from" in e or "date_to" in e for e in errors), errors
    assert any("“From date”" in e for e in errors), errors


def _change_with_one_unchanged_field() -> None:
    from explorer.widgets import diff_view
    from tests.explorer.test_small_things import order_change

    before, after = '{"status": "Paid", "note": "gift wrap"}', '{"status": "Shipped", "note": "gift wrap"}'
    diff_view(order_change("r3", "o-3", name="Order 3", actor="alice", before=before, after=after), "t")


def test_the_unchanged_fields_are_counted_in_the_singular_and_drawn_when_opened():
    at = AppTest.from_function(_change_with_one_unchanged_field, args=(), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    assert "1 unchanged field" in [e.label for e in at.expander]
    assert "gift wrap" not in html_cells(at.html)  # closed: not drawn
    at.session_state["t_same"] = True  # the user opens it
    at.run()
    assert "gift wrap" in html_cells(at.html)
