"""One rule set (issue 10 item 6): etl.rules.RULES is the table both ETLs follow. For each rule, a record that
breaks it and every later rule gets that rule's reason and message from the DuckDB SQL, the local Python path
and the Glue job's check alike, so the order and the texts cannot drift apart."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from etl import glue_job, raw, sql
from etl.local import python_record, run_etl
from etl.rules import MESSAGES, PARSED_REASONS, REASONS, RULES
from tests.etl.conftest import make_event, write_raw
from tests.etl.test_local_etl import quarantine

DAY = date(2026, 11, 27)

# How to break each rule decided on a parsed record, applied to an event from this rule on.
BREAK: dict[str, Any] = {
    "not_an_object": None,  # replaces the record by a JSON array
    "no_entities": lambda e: e["detail"].update(entities=[]),
    "entity_without_id": lambda e: e["detail"]["entities"][0]["entity"].pop("id"),
    "id_control_character": lambda e: e["detail"]["entities"].append({"entity": {"id": "a\nb"}}),
    "invalid_time": lambda e: e.update(time="2026-11-27T10:00:00"),
    "invalid_source": lambda e: e.update(source="Bad/Source"),
}


def _breaking_from(i: int) -> object:
    """An event breaking PARSED_REASONS[i] and every later rule (later ones first, so each still applies)."""
    if PARSED_REASONS[i] == "not_an_object":
        return [1, 2]
    event = make_event(7)
    for reason in reversed(PARSED_REASONS[i:]):
        if reason == "entity_without_id":  # the control-character item must not mask the missing id
            event["detail"]["entities"].insert(0, {"entity": {"name": "no id"}})
        elif BREAK[reason] is not None:
            BREAK[reason](event)
    return event


def test_the_rule_table_names_every_reason_once_with_a_message() -> None:
    assert REASONS == tuple(r.reason for r in RULES) and len(set(REASONS)) == len(REASONS)
    assert set(BREAK) == set(PARSED_REASONS) == set(sql.SQL_RULES)
    assert all(MESSAGES[r] for r in REASONS)
    assert "ts BETWEEN TIMESTAMP '1970-01-01 00:00:00' AND TIMESTAMP '9999-12-31 23:59:59.999000'" in (
        sql.SQL_RULES["invalid_time"])


@pytest.mark.parametrize("escape", ["", "\\u00e9"])  # the SQL path, then the Python path
@pytest.mark.parametrize("i", range(len(PARSED_REASONS)), ids=list(PARSED_REASONS))
def test_each_rule_wins_over_the_later_ones_in_every_engine(tmp_path: Path, i: int, escape: str) -> None:
    record = _breaking_from(i)
    reason = PARSED_REASONS[i]
    text = json.dumps(record)
    if escape and isinstance(record, dict):
        record["note"] = "NOTE"
        text = json.dumps(record).replace("NOTE", escape)
    write_raw(tmp_path, datetime(2026, 11, 27, 3), [make_event(1), text])
    run_etl(tmp_path, DAY)
    (entry,) = quarantine(tmp_path)
    assert (entry["reason"], entry["message"]) == (reason, MESSAGES[reason])
    (parsed,) = raw.split_records(text)
    assert parsed.value is not None
    assert python_record(parsed.value)[0] == reason
    assert glue_job._check(parsed.value) == (reason, MESSAGES[reason])
