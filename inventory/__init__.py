"""fleet inventory: load, validate and select the hosts of a homelab fleet.

Pure code (standard library and PyYAML): nothing here opens a connection or
runs Docker. docs/inventory.md describes the file format.
"""

from inventory.errors import InventoryError, Problem, SelectionError
from inventory.load import load_inventory
from inventory.model import DEFAULT_INVENTORY, Host, Inventory
from inventory.pushrepo import check_push_repo, push_repo_problems

__all__ = [
    "DEFAULT_INVENTORY",
    "Host",
    "Inventory",
    "InventoryError",
    "Problem",
    "SelectionError",
    "check_push_repo",
    "load_inventory",
    "push_repo_problems",
]
