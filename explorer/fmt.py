"""Records as tables with readable column names, and values as short display text (no Streamlit import).

>>> display_value("Paris"), display_value(12.5), display_value(None), display_value({"a": [1]})
('Paris', '12.5', '∅', '{"a": [1]}')
"""

from __future__ import annotations

import html
import json
import re
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


#: Every field of a record, as "Every field in full" lists them: (label, record attribute).
FULL_FIELDS: tuple[tuple[str, str], ...] = (
    *GRID_COLUMNS,
    ("Parent name", "EntityParentName"),
    ("Detail type", "DetailType"),
    ("Event id", "EventId"),
    ("Row id", "Id"),
    ("Date (dt)", "dt"),
)


def full_text(value: Any) -> str:
    """A record field as whole text (times as time_text, missing as '∅'), never shortened.

    >>> full_text(None), len(full_text("x" * 2500))
    ('∅', 2500)
    """
    if value is None:
        return "∅"
    if isinstance(value, datetime):
        return time_text(value)
    return str(value)


def pretty_json(raw: str) -> str:
    """JSON text indented for reading (keys in their order); text that is not JSON as it is."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw


def name_fields(text: str, labels: dict[str, str]) -> str:
    """`text` (a validation message) with each internal field name in it replaced by its form label.

    >>> name_fields("2026-11-28 is before date_from 2026-12-01", {"date_from": "From date"})
    '2026-11-28 is before “From date” 2026-12-01'
    """
    if not labels:
        return text
    names = "|".join(re.escape(k) for k in sorted(labels, key=len, reverse=True))
    return re.sub(rf"\b({names})\b", lambda m: f"“{labels[m.group(1)]}”", text)


def display_value(value: Any) -> str:
    """A JSON value as display text: strings as they are, null as ∅, anything else as compact JSON."""
    if value is None:
        return "∅"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def plural(n: int, word: str, many: str | None = None) -> str:
    """A count with its noun in the right number.

    >>> plural(1, "change"), plural(2, "change"), plural(1, "entity", "entities"), plural(1200, "row")
    ('1 change', '2 changes', '1 entity', '1,200 rows')
    """
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def entity_label(entity_type: str | None, entity_id: str | None) -> str:
    """'Order 100234' style label.

    >>> entity_label("OrderItem", "100234-1"), entity_label(None, "x")
    ('OrderItem 100234-1', 'x')
    """
    return f"{entity_type} {entity_id}" if entity_type else str(entity_id)


def escape_md(text: str) -> str:
    r"""Make user data safe Markdown that renders as the plain text it is, wherever Streamlit renders
    Markdown: metacharacters are escaped, line breaks fold into spaces (one line: it cannot start a new
    block), and every word that GFM would turn into a live link (a URL, `www.` or an e-mail address, with
    or without escapes: the autolinker runs on the unescaped text) goes into a code span, which it skips.

    >>> escape_md("[x](e.example)\n# big")
    '\\[x\\]\\(e\\.example\\) \\# big'
    >>> escape_md("mail boss@evil.example or see http://evil.example/a`b")
    'mail `boss@evil.example` or see ``http://evil.example/a`b``'
    """
    out = []
    for part in _WORDS.split("".join(" " if ch in _LINE_BREAKS else ch for ch in str(text))):
        if _LINKABLE.search(part):
            out.append(_code_span(part))
        else:
            out.append("".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in part))
    return "".join(out)


def _code_span(text: str) -> str:
    """`text` as one Markdown code span (fenced by more backticks than any run inside it)."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_MD_SPECIAL = frozenset("\\`*_{}[]<>()#+-.!|~$@:&=")
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_WORDS = re.compile(r"(\s+)")  # autolinks never span white space
#: More than GFM autolinks (a scheme, `www.`, anything with an `@`): a false positive only shows as code.
_LINKABLE = re.compile(r"@|www\.|[a-z][a-z0-9+.-]*:/", re.IGNORECASE)


def escape_html(text: str) -> str:
    """Escape `&`, `<` and `>` in data-derived text put into an HTML element's content (the st.html blocks
    of widgets.py), so data never becomes markup. Not for attribute values (quotes are left as they are).
    Not for chart labels either: Vega-Lite draws them as SVG text, where "&lt;" would show as typed.

    >>> escape_html('<a href="https://e.example">x</a> & co')
    '&lt;a href="https://e.example"&gt;x&lt;/a&gt; &amp; co'
    """
    return html.escape(str(text), quote=False)
