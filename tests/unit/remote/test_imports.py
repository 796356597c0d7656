"""remote/ imports nothing but the standard library and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REMOTE = Path(__file__).resolve().parents[3] / "remote"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(REMOTE.rglob("*.py")), ids=lambda p: p.name)
def test_module_imports_only_stdlib(path: Path) -> None:
    """Every import in remote/ is a stdlib module or remote itself."""
    foreign = imported_roots(path) - set(sys.stdlib_module_names) - {"remote", "__future__"}
    assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_the_scan_sees_real_imports() -> None:
    """The walk finds the imports it is meant to police (guards against a vacuous pass)."""
    assert {"remote", "os"} <= imported_roots(REMOTE / "cli.py")
