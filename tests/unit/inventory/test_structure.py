"""inventory/'s modules import each other in one direction only (no circle, not even
one hidden behind TYPE_CHECKING), so any of them can be imported first."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "inventory"


def imports_of(path: Path) -> set[str]:
    """The inventory modules one file imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("inventory."):
            found.add(str(node.module).removeprefix("inventory."))
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("inventory.")
                for a in node.names
                if a.name.startswith("inventory.")
            )
    return found


def cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path of imports from `start` back to itself, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        module, path = stack.pop()
        for target in graph.get(module, set()):
            if target == start:
                return [*path, target]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_inventory_modules_import_without_a_circle() -> None:
    modules = [p for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    graph = {p.stem: imports_of(p) for p in modules}
    assert graph["model"], "the scan found no imports at all: it is broken"
    circles = [c for m in graph if (c := cycle_from(m, graph))]
    assert not circles, " ; ".join(" -> ".join(c) for c in circles)
