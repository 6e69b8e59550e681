"""The package graph has no cycles, and the core modules import nothing of ours but each other (DESIGN §2)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("audit_events", "audit_query", "auditlog", "etl", "explorer")
CORE = {"etl.schema", "etl.layout", "etl.rules", "etl.raw", "etl.errors", "etl.settings"}


def _imports(path: Path) -> set[str]:
    """Every module of ours that one file imports, as dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _modules() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            name = ".".join(p for p in rel.parts if p != "__init__")
            graph[name] = _imports(path)
    return graph


def test_no_package_imports_a_package_that_imports_it_back() -> None:
    graph = _modules()
    edges: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for module, targets in graph.items():
        src = module.split(".")[0]
        edges[src] |= {t.split(".")[0] for t in targets if t.split(".")[0] != src}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(p for p in PACKAGES if reaches(p, p, {p}))
    assert not cycles, f"packages in an import cycle: {cycles} (edges: {edges})"


def test_core_modules_import_only_the_core() -> None:
    graph = _modules()
    for module in sorted(CORE):
        assert module in graph, f"core module {module} is missing"
        allowed = CORE | {"etl"}
        outside = {t for t in graph[module] if t not in allowed and t.rsplit(".", 1)[0] not in allowed}
        assert not outside, f"{module} imports {sorted(outside)}, which is not core"
