"""Before any host is called: can the controller send a push host its services?

A `source: push` host gets services/<svc>/ from a folder on this machine (`--repo`, by
default the inventory's folder). A folder that is missing, or a service not in it, is
the inventory's mistake as much as a typo is: it is reported like one (file, line, exit 2),
before anything is contacted, not as a host failure after connecting.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from inventory.errors import InventoryError, Problem
from inventory.model import Host, Inventory

# The definitions the runner looks for in a service folder (remote/compose.py's
# DEFINITION_NAMES; a unit test keeps the two equal). inventory/ imports nothing of remote/.
DEFINITION_NAMES = ("compose.yaml", "docker-compose.yml")
REPO_HINT = "--repo names the folder that holds services/ (default: the inventory's folder)"


def push_repo_problems(inventory: Inventory, hosts: Iterable[Host], repo: Path) -> list[Problem]:
    """What stops a push to these hosts from `repo`: for push hosts only, in line order."""
    pushed = [h for h in hosts if h.source == "push"]
    if not pushed:
        return []
    file = str(inventory.path)
    if not repo.is_dir():
        first = pushed[0]
        key = f"hosts.{first.name}.source"
        line = inventory.line(key, f"hosts.{first.name}")
        reason = "is not a folder" if repo.exists() else "does not exist"
        return [Problem(file, line, key, f"the push repo {repo} {reason}", REPO_HINT)]
    problems: list[Problem] = []
    for host in pushed:
        for svc in host.services:
            message = _service_problem(repo, svc)
            if message is not None:
                key = f"hosts.{host.name}.services.{svc}"
                line = inventory.line(key, f"hosts.{host.name}")
                problems.append(Problem(file, line, key, message, REPO_HINT))
    return sorted(problems, key=lambda p: p.line)


def check_push_repo(inventory: Inventory, hosts: Iterable[Host], repo: Path) -> None:
    """Raise InventoryError when push_repo_problems finds any."""
    problems = push_repo_problems(inventory, hosts, repo)
    if problems:
        raise InventoryError(problems)


def _service_problem(repo: Path, service: str) -> str | None:
    """Why services/<service>/ in `repo` cannot be pushed, or None when it can."""
    folder = repo / "services" / service
    if folder.is_symlink():
        return f"services/{service} in {repo} is a symlink; a service folder must be a folder"
    if not folder.is_dir():
        return f"services/{service}/ is not in {repo}"
    if not any((folder / name).is_file() for name in DEFINITION_NAMES):
        names = " or ".join(DEFINITION_NAMES)
        return f"services/{service}/ in {repo} has no {names}"
    return None
