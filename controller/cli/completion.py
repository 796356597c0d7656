"""Shell completion of host names from the inventory, for every command that takes hosts.

Runs at each TAB press, so it stays cheap and silent: a missing or invalid inventory
completes nothing rather than printing an error into the operator's prompt.
"""

from __future__ import annotations

import os
from pathlib import Path

from inventory import DEFAULT_INVENTORY


def inventory_of(params: dict[str, object]) -> Path:
    """The inventory the command line being completed names (-i), else the env's or the default."""
    given = params.get("inventory")
    if isinstance(given, str | Path) and str(given):
        return Path(given)
    return Path(os.environ.get("FLEET_INVENTORY") or DEFAULT_INVENTORY)


def host_names(path: Path) -> tuple[list[str], list[str]]:
    """The inventory's host names and group names; empty when it cannot be loaded."""
    from inventory import InventoryError, load_inventory

    try:
        inv = load_inventory(path)
    except (InventoryError, OSError):
        return [], []
    return [h.name for h in inv.hosts], sorted(inv.groups)


def candidates(incomplete: str, path: Path) -> list[str]:
    """Hosts (and @groups, all) matching the word being typed; for `a,b,` the last part."""
    head, _, last = incomplete.rpartition(",")
    prefix = head + "," if head else ""
    names, groups = host_names(path)
    words = [*names, *(f"@{g}" for g in groups)]
    if names and not head:
        words.append("all")
    return [prefix + w for w in words if w.startswith(last)]


def complete_hosts(ctx: object, incomplete: str) -> list[str]:
    """Typer's `autocompletion=` for any host argument or option (--hosts, resume, logs,
    rollback): host names, `@group` and `all` from the inventory the line names."""
    params = getattr(ctx, "params", None)
    return candidates(incomplete, inventory_of(params if isinstance(params, dict) else {}))
