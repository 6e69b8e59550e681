"""Validation of AuditLogQuery: each broken rule names its field and rule; settings carry help text."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from audit_query import Action, ActorType, AuditLogQuery, QuerySettings, QueryValidationError
from audit_query.settings import CURSOR_SECRET_ENV

D = date(2026, 11, 26)


def q(**kw: object) -> AuditLogQuery:
    base: dict[str, object] = {"date_from": D, "date_to": D, "sources": ("shop.orders",)}
    base.update(kw)
    return AuditLogQuery(**base)


def rejects(field: str, rule: str, **kw: object) -> QueryValidationError:
    with pytest.raises(QueryValidationError) as info:
        q(**kw).validate()
    err = info.value
    assert (err.field, err.rule) == (field, rule)
    assert field in str(err) and f"(rule: {rule})" in str(err)
    return err


def test_sources_are_required_and_the_message_names_field_and_rule() -> None:
    err = rejects("sources", "required", sources=())
    assert str(err) == "sources: at least one source (rule: required)"


@pytest.mark.parametrize("source", ["Shop", "-shop", "shop orders", "shop/x", "a" * 129, "shop'--", "ü"])
def test_source_names_must_match_the_pattern(source: str) -> None:
    rejects("sources", "pattern", sources=(source,))


def test_enum_strings_are_accepted_and_become_enums() -> None:
    query = q(actions=["Update", Action.DELETE], actor_types="User")
    assert query.actions == (Action.UPDATE, Action.DELETE)
    assert query.actor_types == (ActorType.USER,)


@pytest.mark.parametrize(("field", "value"), [("actions", "Drop"), ("actor_types", "Admin"), ("actions", 1)])
def test_unknown_enum_values_are_rejected_on_construction(field: str, value: object) -> None:
    with pytest.raises(QueryValidationError) as info:
        q(**{field: [value]})
    assert (info.value.field, info.value.rule) == (field, "enum")


@pytest.mark.parametrize("field", ["actor_name", "entity_id", "correlation_id"])
@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("a\x00b", "control_characters"),
        ("line\nbreak", "control_characters"),
        ("\x7f", "control_characters"),
        ("x" * 257, "max_length"),
        ("", "not_empty"),
    ],
)
def test_text_filters_reject_control_characters_overlong_and_empty(field: str, value: str, rule: str) -> None:
    rejects(field, rule, **{field: value})


@pytest.mark.parametrize("field", ["entity_types", "channel_codes"])
def test_list_filters_check_every_value(field: str) -> None:
    rejects(field, "control_characters", **{field: ("ok", "bad\x00")})
    rejects(field, "max_values", **{field: tuple(f"v{i}" for i in range(101))})


def test_text_at_the_length_cap_and_unicode_are_accepted() -> None:
    assert q(actor_name="é" * 256, entity_id="注文-1 'x' \\ \"").validate().actor_name == "é" * 256


def test_limit_range_and_type() -> None:
    rejects("limit", "range", limit=0)
    rejects("limit", "range", limit=1001)
    assert q(limit=1000).validate().limit == 1000
    with pytest.raises(QueryValidationError) as info:
        q(limit="10")
    assert info.value.rule == "type"


def test_max_limit_is_a_setting() -> None:
    with pytest.raises(QueryValidationError):
        q(limit=50).validate(QuerySettings(max_limit=20))


def test_date_order_and_ranges() -> None:
    rejects("date_to", "order", date_from=date(2026, 11, 27))
    assert q(date_from=date(2026, 11, 20)).validate()  # 7 days inclusive
    err = rejects("date_to", "max_range", date_from=date(2026, 11, 19))
    assert "8 days" in str(err)
    # one entity's history may span max_history_days
    assert q(date_from=date(2025, 10, 23), entity_id="order-1").validate()
    rejects("date_to", "max_range", date_from=date(2025, 10, 22), entity_id="order-1")


def test_dates_accept_iso_strings_but_not_datetimes() -> None:
    assert q(date_from="2026-11-25").date_from == date(2026, 11, 25)
    with pytest.raises(QueryValidationError) as info:
        q(date_from=datetime(2026, 11, 25, 1))
    assert (info.value.field, info.value.rule) == ("date_from", "type")
    with pytest.raises(QueryValidationError):
        q(date_to="26/11/2026")


def test_include_children_needs_an_entity_id() -> None:
    rejects("include_children", "requires_entity_id", include_children=True)


def test_direction_is_next_or_prev() -> None:
    with pytest.raises(QueryValidationError) as info:
        q(direction="sideways")
    assert info.value.field == "direction"


def test_fingerprint_binds_filters_but_not_paging() -> None:
    a = q(actor_name="alice", sources=("b", "a"))
    assert a.fingerprint() == replace(a, limit=7, cursor="x", direction="prev").fingerprint()
    assert a.fingerprint() == q(actor_name="alice", sources=("a", "b")).fingerprint()
    assert a.fingerprint() != replace(a, actor_name="bob").fingerprint()
    assert a.fingerprint() != replace(a, date_to=date(2026, 11, 27)).fingerprint()


def test_settings_have_help_and_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import fields

    for f in fields(QuerySettings):
        assert QuerySettings.help(f.name)
    s = QuerySettings.from_env({"AUDITLOG_MAX_LIMIT": "50", CURSOR_SECRET_ENV: "s3cret"})
    assert (s.max_limit, s.cursor_secret) == (50, b"s3cret")
    with pytest.raises(ValueError, match="AUDITLOG_MAX_RANGE_DAYS"):
        QuerySettings.from_env({"AUDITLOG_MAX_RANGE_DAYS": "a week"})


def test_cursor_secret_without_env_is_random_per_process_but_stable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CURSOR_SECRET_ENV, raising=False)
    assert QuerySettings().cursor_secret == QuerySettings().cursor_secret
    assert len(QuerySettings().cursor_secret) >= 32
    monkeypatch.setenv(CURSOR_SECRET_ENV, "from-env")
    assert QuerySettings().cursor_secret == b"from-env"
