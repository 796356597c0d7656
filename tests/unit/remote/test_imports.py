"""remote/ imports nothing but the standard library and itself, and its layers only
import downwards, with no circle (docs/internals.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REMOTE = Path(__file__).resolve().parents[3] / "remote"
# Lowest first. A module may import its own layer's package and the layers below;
# the modules of one layer given as a tuple are independent of each other.
LAYERS = (
    "remote.protocol",
    "remote.kit",
    "remote.docker",
    "remote.run",
    "remote.source",
    "remote.incoming",
    ("remote.status", "remote.preview", "remote.logs", "remote.outdated"),
    "remote.cli",
)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, lazy and TYPE_CHECKING ones too; `from P import N`
    counts as P.N (N may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)}


def module_name(path: Path) -> str:
    parts = path.relative_to(REMOTE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, the layer's own package or module) of a remote module."""
    for index, layer in enumerate(LAYERS):
        for unit in layer if isinstance(layer, tuple) else (layer,):
            if module == unit or module.startswith(unit + "."):
                return index, unit
    return None


def remote_graph() -> dict[str, set[str]]:
    """remote's modules and the remote modules each imports."""
    paths = {module_name(path): path for path in REMOTE.rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        targets = set()
        for imported in imported_modules(path):
            while imported and imported not in paths:
                imported = imported.rpartition(".")[0]
            if imported and imported != "remote":
                targets.add(imported)
        graph[name] = targets
    return graph


@pytest.mark.parametrize("path", sorted(REMOTE.rglob("*.py")), ids=lambda p: p.name)
def test_module_imports_only_stdlib(path: Path) -> None:
    """Every import in remote/ is a stdlib module or remote itself."""
    foreign = imported_roots(path) - set(sys.stdlib_module_names) - {"remote", "__future__"}
    assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_the_scan_sees_real_imports() -> None:
    """The walk finds the imports it is meant to police (guards against a vacuous pass)."""
    assert {"remote", "os"} <= imported_roots(REMOTE / "cli.py")


def test_layers_only_import_downwards() -> None:
    """protocol < kit < docker < run < source < incoming < (status, preview, logs) < cli."""
    wrong = []
    for module, targets in remote_graph().items():
        own = layer_of(module)
        for target in targets:
            theirs = layer_of(target)
            if own is None or theirs is None:
                if module != "remote.build":  # the builder is not shipped: no layer
                    wrong.append(f"{module} -> {target} (not in a layer)")
            elif theirs[0] > own[0] or (theirs[0] == own[0] and theirs[1] != own[1]):
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_no_import_circle() -> None:
    """No remote module reaches itself through its imports."""
    graph = remote_graph()

    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph.get(module, ()))
        return seen

    circling = [module for module in graph if module in reaches(module)]
    assert not circling, circling
