"""Records as tables with readable column names, and values as short display text (no Streamlit import).

>>> display_value("Paris"), display_value(12.5), display_value(None), display_value({"a": [1]})
('Paris', '12.5', '∅', '{"a": [1]}')
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from audit_query import AuditRecord

#: Grid columns: (label, record attribute), in display order.
GRID_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Time (UTC)", "Timestamp"),
    ("Source", "source"),
    ("Entity type", "EntityType"),
    ("Entity id", "EntityId"),
    ("Entity name", "EntityName"),
    ("Action", "Action"),
    ("Actor", "ActorName"),
    ("Actor type", "ActorType"),
    ("Parent type", "EntityParentType"),
    ("Parent id", "EntityParentId"),
    ("Channel", "ChannelCode"),
    ("Channel account", "ChannelAccountCode"),
    ("Correlation id", "CorrelationId"),
)


def time_text(ts: datetime | None) -> str:
    """A UTC timestamp as 'YYYY-MM-DD HH:MM:SS.fff UTC'.

    >>> time_text(datetime(2026, 11, 27, 5, 1, 2, 345000, tzinfo=UTC))
    '2026-11-27 05:01:02.345 UTC'
    """
    if ts is None:
        return ""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts.microsecond // 1000:03d} UTC"


def records_frame(records: Sequence[AuditRecord]) -> pd.DataFrame:
    """The records as a DataFrame with readable column names (Time as a naive UTC datetime)."""
    data: dict[str, list[Any]] = {label: [] for label, _ in GRID_COLUMNS}
    for r in records:
        for label, attr in GRID_COLUMNS:
            v = getattr(r, attr)
            if attr == "Timestamp" and v is not None:
                v = v.astimezone(UTC).replace(tzinfo=None)
            data[label].append(v)
    frame = pd.DataFrame(data)
    frame["Time (UTC)"] = pd.to_datetime(frame["Time (UTC)"])
    return frame


def display_value(value: Any) -> str:
    """A JSON value as display text: strings as they are, null as ∅, anything else as compact JSON."""
    if value is None:
        return "∅"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def entity_label(entity_type: str | None, entity_id: str | None) -> str:
    """'Order 100234' style label.

    >>> entity_label("OrderItem", "100234-1"), entity_label(None, "x")
    ('OrderItem 100234-1', 'x')
    """
    return f"{entity_type} {entity_id}" if entity_type else str(entity_id)


def escape_md(text: str) -> str:
    """Escape Markdown metacharacters and fold line breaks into spaces, so user data renders as the plain
    text it is (one line: it cannot start a new block) wherever Streamlit renders Markdown.

    >>> escape_md("[x](http://e.example)\\n# big")
    '\\\\[x\\\\]\\\\(http\\\\://e\\\\.example\\\\) \\\\# big'
    """
    out = []
    for ch in str(text):
        if ch in _MD_SPECIAL:
            out.append("\\" + ch)
        elif ch in _LINE_BREAKS:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


_MD_SPECIAL = frozenset("\\`*_{}[]<>()#+-.!|~$@:&=")
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def escape_html(text: str) -> str:
    """Escape `&`, `<` and `>` in data-derived plotly text (labels, categories, hover), which plotly would
    otherwise read as its HTML subset (<b>, <a href>, <br>).

    >>> escape_html('<a href="https://e.example">x</a> & co')
    '&lt;a href="https://e.example"&gt;x&lt;/a&gt; &amp; co'
    """
    return html.escape(str(text), quote=False)
