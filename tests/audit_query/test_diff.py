"""Field-level diffs of before/after JSON text and rebuilding an entity's state at a point in time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_query.diff import ROOT, diff_json, flatten, state_at, summarize


def kinds(before: str | None, after: str | None) -> dict[str, str]:
    return {c.path: c.kind for c in diff_json(before, after)}


def test_order_status_change_shows_one_changed_field_and_nested_paths():
    before = '{"status":"paid","total":12.98,"shipping_address":{"city":"Paris","postcode":"75002"}}'
    after = '{"status":"packed","total":12.98,"shipping_address":{"city":"Lyon","postcode":"75002"}}'
    changes = {c.path: c for c in diff_json(before, after)}
    assert changes["status"].kind == "changed"
    assert (changes["status"].before, changes["status"].after) == ("paid", "packed")
    assert changes["shipping_address.city"].kind == "changed"
    assert changes["shipping_address.postcode"].kind == "unchanged"
    assert changes["total"].kind == "unchanged"


def test_create_is_all_added_and_delete_is_all_removed():
    assert set(kinds(None, '{"a": 1, "b": {"c": 2}}').values()) == {"added"}
    assert kinds('{"a": 1}', None) == {"a": "removed"}
    assert diff_json(None, None) == []


def test_added_and_removed_keys_and_order_follows_after_then_removed():
    changes = diff_json('{"z": 1, "gone": true, "a": 2}', '{"a": 2, "new": null, "z": 1}')
    assert [(c.path, c.kind) for c in changes] == [
        ("a", "unchanged"),
        ("new", "added"),
        ("z", "unchanged"),
        ("gone", "removed"),
    ]


def test_json_types_matter_one_and_true_and_one_point_zero_differ():
    assert kinds('{"n": 1}', '{"n": true}') == {"n": "changed"}
    assert kinds('{"n": 1}', '{"n": 1.0}') == {"n": "changed"}
    assert kinds('{"n": null}', '{"n": 0}') == {"n": "changed"}


def test_lists_are_indexed_and_dotted_keys_are_quoted():
    assert kinds('{"l": [1, 2]}', '{"l": [1]}') == {"l[0]": "unchanged", "l[1]": "removed"}
    assert list(flatten({"a.b": 1, "c": {"d[0]": 2}})) == ['["a.b"]', 'c["d[0]"]']


def test_text_that_is_not_json_or_not_an_object_compares_as_one_value():
    assert kinds("not json", "not json either") == {ROOT: "changed"}
    assert kinds("[]", '"x"') == {ROOT: "changed"}


def test_summary_counts_every_kind():
    assert summarize(diff_json('{"a":1,"b":2,"c":3}', '{"a":1,"b":9,"d":4}')) == {
        "added": 1,
        "removed": 1,
        "changed": 1,
        "unchanged": 1,
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(st.text(max_size=4), json_values, max_size=4),
    st.dictionaries(st.text(max_size=4), json_values, max_size=4),
)
def test_property_diff_accounts_for_every_leaf_of_both_sides(before, after):
    changes = diff_json(json.dumps(before), json.dumps(after))
    paths = [c.path for c in changes]
    assert len(paths) == len(set(paths))
    before_paths = {c.path for c in changes if c.kind != "added"}
    after_paths = {c.path for c in changes if c.kind != "removed"}
    assert before_paths == set(flatten(before))
    assert after_paths == set(flatten(after))
    assert all(c.kind == "unchanged" for c in diff_json(json.dumps(after), json.dumps(after)))


T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)


def rec(minutes, entity_id, action, before, after, entity_type="Order"):
    ts = T0 + timedelta(minutes=minutes)
    return SimpleNamespace(
        Timestamp=ts,
        Id=f"e{minutes}",
        EntityType=entity_type,
        EntityId=entity_id,
        Action=action,
        Before=before,
        After=after,
    )


HISTORY = [  # newest first, as history() returns it
    rec(30, "100", "Delete", '{"status":"paid"}', None),
    rec(20, "100-1", "Update", '{"qty":1}', '{"qty":2}', "OrderItem"),
    rec(10, "100", "Update", '{"status":"new"}', '{"status":"paid"}'),
    rec(5, "100-1", "Create", None, '{"qty":1}', "OrderItem"),
    rec(0, "100", "Create", None, '{"status":"new"}'),
]


def test_state_at_follows_create_update_delete_of_parent_and_child():
    def at(minutes):
        states = state_at(HISTORY, T0 + timedelta(minutes=minutes))
        return {k[1]: (s.exists, s.state) for k, s in states.items()}

    assert at(-1) == {"100": (False, None), "100-1": (False, None)}
    assert at(0) == {"100": (True, {"status": "new"}), "100-1": (False, None)}
    assert at(25) == {"100": (True, {"status": "paid"}), "100-1": (True, {"qty": 2})}
    assert at(30)["100"] == (False, None)


def test_state_before_the_first_known_change_comes_from_its_before_map():
    states = state_at([rec(10, "7", "Update", '{"s":"a"}', '{"s":"b"}')], T0)
    state = states[("Order", "7")]
    assert (state.exists, state.state, state.as_of) == (True, {"s": "a"}, None)


def test_state_at_refuses_a_naive_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        state_at(HISTORY, datetime(2026, 11, 27))
