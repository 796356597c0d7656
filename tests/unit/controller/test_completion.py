"""Host names for shell completion, read from the inventory the command line names."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from controller.cli.completion import complete_hosts

INVENTORY = """\
groups:
  core: {}
  edge: {}
hosts:
  nas: {address: 10.0.0.2, groups: [core], services: [media]}
  pi-1: {address: 10.0.0.3, groups: [edge], services: [dns]}
  pi-2: {address: 10.0.0.4, groups: [edge], services: [dns]}
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    return path


def test_hosts_groups_and_all_complete_from_the_inventory_given_with_i(inventory: Path) -> None:
    """`-i FILE` (parsed into ctx.params) names the inventory; prefixes filter."""
    ctx = SimpleNamespace(params={"inventory": inventory})
    assert complete_hosts(ctx, "pi") == ["pi-1", "pi-2"]
    assert complete_hosts(ctx, "@") == ["@core", "@edge"]
    assert complete_hosts(ctx, "a") == ["all"]


def test_the_last_part_of_a_comma_list_completes(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--hosts nas,p<TAB>` keeps what is typed; FLEET_INVENTORY is used without -i."""
    monkeypatch.setenv("FLEET_INVENTORY", str(inventory))
    assert complete_hosts(SimpleNamespace(params={}), "nas,p") == ["nas,pi-1", "nas,pi-2"]


def test_a_broken_inventory_completes_nothing_silently(tmp_path: Path) -> None:
    """At a TAB press an error would land in the prompt: nothing is offered instead."""
    bad = tmp_path / "bad.yml"
    bad.write_text("hosts: [not, a, mapping]\n")
    assert complete_hosts(SimpleNamespace(params={"inventory": bad}), "") == []
    assert complete_hosts(SimpleNamespace(params={"inventory": tmp_path / "none.yml"}), "") == []
