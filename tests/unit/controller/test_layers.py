"""The controller's layers, lowest first: a module may import its own layer and those
below it, never one above, and the features never import each other (docs/internals.md).
Every import counts, also those inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3] / "controller"

LAYERS: list[set[str]] = [
    {"controller.errors", "controller.options"},
    {"controller.report"},
    {"controller.transport"},
    {"controller.session"},
    {"controller.job", "controller.secrets"},
    {
        "controller.deploy",
        "controller.plan",
        "controller.check",
        "controller.logs",
        "controller.releases",
        "controller.status",
        "controller.outdated",
        "controller.notify",
        "controller.htmlreport",
    },
    {"controller.fanout"},
    {"controller.cli", "controller.__main__"},
]
FEATURES = LAYERS[5]


def unit_of(module: str) -> str | None:
    """The layer member a module belongs to (its package, or itself)."""
    for layer in LAYERS:
        for unit in layer:
            if module == unit or module.startswith(unit + "."):
                return unit
    return None


def layer_of(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: a relative import; name the layer it comes from")
    return {name for name in found if name.startswith("controller.")}


def test_every_module_is_in_a_layer() -> None:
    strays = [module_name(p) for p in ROOT.rglob("*.py") if unit_of(module_name(p)) is None]
    assert strays == [] or strays == ["controller"], strays


def test_no_module_imports_a_layer_above_it_nor_another_feature() -> None:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        here = unit_of(module_name(path))
        if here is None:
            continue
        for name in imports_of(path):
            there = unit_of(name)
            if there is None or there == here:
                continue
            if layer_of(there) > layer_of(here) or (here in FEATURES and there in FEATURES):
                wrong.append(f"{module_name(path)} imports {name}")
    assert wrong == [], "\n".join(wrong)


def test_only_the_cli_imports_typer() -> None:
    users = [
        module_name(p)
        for p in ROOT.rglob("*.py")
        if "typer" in {n.split(".")[0] for n in _all_imports(p)}
    ]
    assert all(name.startswith("controller.cli") for name in users), users


def _all_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names
