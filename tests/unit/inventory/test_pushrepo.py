"""check_push_repo: a push host's services are checked on this machine before any host
is called, and reported at the inventory line that asked for them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inventory import InventoryError, check_push_repo, load_inventory, push_repo_problems
from inventory.pushrepo import DEFINITION_NAMES, REPO_HINT
from remote.docker.compose import DEFINITION_NAMES as RUNNER_DEFINITION_NAMES

INVENTORY = """\
defaults:
  source: git
groups:
  lte:
    source: push
    services: [relay]
hosts:
  nas: {services: [files]}
  edge:
    groups: [lte]
    services:
      - tunnel
      - ntp
"""


@pytest.fixture
def inventory_path(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(textwrap.dedent(INVENTORY), encoding="utf-8")
    return path


def service(repo: Path, name: str, definition: str | None = "compose.yaml") -> None:
    (repo / "services" / name).mkdir(parents=True)
    if definition:
        (repo / "services" / name / definition).write_text("services: {}\n")


def test_every_pushed_service_present_is_no_problem(inventory_path: Path) -> None:
    repo = inventory_path.parent
    service(repo, "relay")
    service(repo, "tunnel", "docker-compose.yml")
    service(repo, "ntp")
    inv = load_inventory(inventory_path)
    check_push_repo(inv, inv.hosts, repo)  # nas's `files` is a git host's business


def test_a_missing_service_is_reported_where_it_is_listed(inventory_path: Path) -> None:
    repo = inventory_path.parent
    service(repo, "relay", definition=None)
    service(repo, "ntp")
    inv = load_inventory(inventory_path)
    found = push_repo_problems(inv, inv.hosts, repo)
    assert [(p.line, p.key) for p in found] == [
        (6, "hosts.edge.services.relay"),  # listed by the group lte
        (12, "hosts.edge.services.tunnel"),
    ]
    assert (
        found[0].message == f"services/relay/ in {repo} has no compose.yaml or docker-compose.yml"
    )
    assert found[1].message == f"services/tunnel/ is not in {repo}"
    assert found[1].hint == REPO_HINT
    with pytest.raises(InventoryError) as caught:
        check_push_repo(inv, inv.hosts, repo)
    assert str(caught.value).startswith(f"{inventory_path}:6: hosts.edge.services.relay: ")


def test_a_repo_that_does_not_exist_is_reported_at_the_source_line(
    inventory_path: Path, tmp_path: Path
) -> None:
    inv = load_inventory(inventory_path)
    (found,) = push_repo_problems(inv, inv.hosts, tmp_path / "nosuch")
    assert (found.line, found.key) == (5, "hosts.edge.source")
    assert found.message == f"the push repo {tmp_path / 'nosuch'} does not exist"


def test_only_the_selected_push_hosts_are_checked(inventory_path: Path, tmp_path: Path) -> None:
    inv = load_inventory(inventory_path)
    assert push_repo_problems(inv, inv.select("nas"), tmp_path / "nosuch") == []


def test_a_symlinked_service_folder_is_refused_as_push_refuses_it(inventory_path: Path) -> None:
    repo = inventory_path.parent
    service(repo, "elsewhere")
    service(repo, "ntp")
    service(repo, "tunnel")
    (repo / "services" / "relay").symlink_to(repo / "services" / "elsewhere")
    inv = load_inventory(inventory_path)
    (found,) = push_repo_problems(inv, inv.hosts, repo)
    assert "symlink" in found.message


def test_the_definition_names_are_the_runners() -> None:
    assert DEFINITION_NAMES == RUNNER_DEFINITION_NAMES


def test_lines_name_the_host_and_the_layer_that_set_each_thing(inventory_path: Path) -> None:
    inv = load_inventory(inventory_path)
    assert inv.line("hosts.edge") == 9
    assert inv.line("hosts.nas.source") == 2  # from defaults
    assert inv.line("hosts.edge.source") == 5  # the group overrides defaults
    assert inv.line("hosts.nosuch", "hosts.nas") == 8
    assert inv.line("hosts.nosuch") == 0
