"""One colour per action for every page (Activity's charts, the Entity timeline), so Delete is always red."""

from __future__ import annotations

from audit_query.model import Action

#: The colour of each action; anything else (an unknown code, no action) is OTHER_COLOUR.
ACTION_COLOURS: dict[str, str] = {
    Action.CREATE.value: "#2e7d32",
    Action.UPDATE.value: "#1565c0",
    Action.DELETE.value: "#c62828",
    Action.READ.value: "#6a1b9a",
    Action.EXPORT.value: "#ef6c00",
}
OTHER_COLOUR = "#757575"


def action_colour(action: str | None) -> str:
    """The colour `action` is drawn in on every page."""
    return ACTION_COLOURS.get(action or "", OTHER_COLOUR)
