"""The explorer's pages: each one's script, title, icon and URL path, for app.py's menu and serve.py's routes
(one list, so a page added to the menu is also served with the page shell)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    """One page: `url_path` "" is the start page (served at the app's root)."""

    script: str
    title: str
    icon: str
    url_path: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/search.py", "Search", ":material/search:", ""),
    PageSpec("pages/entity.py", "Entity", ":material/history:", "entity"),
    PageSpec("pages/correlation.py", "Correlation", ":material/hub:", "correlation"),
    PageSpec("pages/activity.py", "Activity", ":material/bar_chart:", "activity"),
    PageSpec("pages/pipeline.py", "Pipeline", ":material/conveyor_belt:", "pipeline"),
)
