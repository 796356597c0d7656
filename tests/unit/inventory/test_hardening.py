"""Inventories that are hostile or mistaken: each ends in InventoryError (file, line),
never in a RecursionError, a crash, a hang or a host contacted for nothing."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from controller.cli.completion import host_names
from inventory import DEFAULT_INVENTORY, InventoryError, load_inventory, yamltree
from inventory import load as load_module


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return [str(p) for p in caught.value.problems]


SELF_MERGES = {
    "a host": "hosts:\n  h: &x {<<: *x, services: [web]}\n",
    "the hosts block": "hosts: &x\n  h: {services: [web]}\n  <<: *x\n",
    "defaults": "defaults: &d {<<: *d}\nhosts: {h: {services: [web]}}\n",
    "a group, through a list": "groups: {g: &g {<<: [*g]}}\nhosts: {h: {services: [web]}}\n",
    "an inner mapping": "hosts:\n  h: &x {services: [web]}\n  i: {<<: {<<: *x}}\n"
    "  j: &y {<<: {<<: *y}, services: [a]}\n",
}


@pytest.mark.parametrize("text", SELF_MERGES.values(), ids=list(SELF_MERGES))
def test_a_mapping_merged_into_itself_is_an_inventory_error(tmp_path: Path, text: str) -> None:
    found = problems(write(tmp_path, text))
    assert any("merges a mapping into itself" in p for p in found), found
    assert all(p.startswith(f"{tmp_path / 'hosts.yml'}:") for p in found)


def test_completion_on_a_self_merging_inventory_offers_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, SELF_MERGES["a host"])
    assert host_names(path) == ([], [])


def test_an_anchor_merged_over_and_over_is_read_once(tmp_path: Path) -> None:
    """Thirty levels of `<<: [*a, *a]` name 2**30 mappings; they are one each."""
    levels = ["l0: &l0 {port: 22}"]
    levels += [f"l{n}: &l{n} {{<<: [*l{n - 1}, *l{n - 1}]}}" for n in range(1, 31)]
    body = "".join(f"  {line}\n" for line in levels)
    text = f"x:\n{body}groups:\n  g: {{<<: *l30, services: [web]}}\nhosts: {{h: {{groups: [g]}}}}\n"
    started = time.monotonic()
    found = problems(write(tmp_path, text))
    assert time.monotonic() - started < 2
    assert any("unknown key 'x'" in p for p in found)


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pyyaml"])
def test_nesting_too_deep_for_the_parser_is_an_inventory_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    if not fast:
        monkeypatch.setattr(yamltree, "FAST_LOADER", yamltree.yaml.SafeLoader)
    found = problems(write(tmp_path, "hosts: " + "[" * 50_000 + "]" * 50_000 + "\n"))
    assert len(found) == 1 and "invalid YAML" in found[0], found


def test_dev_zero_is_refused_without_reading_it_whole() -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    (found,) = problems(Path("/dev/zero"))
    assert "larger than 4 MB" in found


def test_a_file_past_the_limit_is_refused_at_line_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "hosts: {h: {services: [web]}}\n")
    monkeypatch.setattr(load_module, "MAX_BYTES", path.stat().st_size - 1)
    (found,) = problems(path)
    assert found.startswith(f"fleet: {path}: the inventory is larger than")
    monkeypatch.setattr(load_module, "MAX_BYTES", path.stat().st_size)
    assert [h.name for h in load_inventory(path).hosts] == ["h"]


def test_a_thousand_hosts_load_well_under_a_second(tmp_path: Path) -> None:
    groups = "groups:\n" + "".join(
        f"  g{n}: {{services: [s{n}], port: 22{n}}}\n" for n in range(10)
    )
    hosts = "".join(
        f"  host-{n}:\n    address: 192.0.2.{n % 250 + 1}\n    groups: [g{n % 10}]\n"
        f"    services: [web, db]\n    user: ops\n"
        for n in range(1000)
    )
    path = write(tmp_path, f"defaults: {{root: /srv}}\n{groups}hosts:\n{hosts}")
    started = time.monotonic()
    inv = load_inventory(path)
    elapsed = time.monotonic() - started
    assert len(inv.hosts) == 1000 and inv.hosts[-1].services == ("s9", "web", "db")
    assert elapsed < 0.5, f"1000 hosts took {elapsed:.2f} s"


def test_an_identity_file_that_is_not_there_is_found_at_load(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    path = write(
        tmp_path,
        """\
        defaults:
          identity: keys/nosuch
        hosts:
          a: {services: [web]}
          b: {services: [web], identity: keys}
        """,
    )
    assert problems(path) == [
        f"{path}:2: defaults.identity: the key file {tmp_path}/keys/nosuch does not exist"
        " (leave identity out to let ssh (~/.ssh/config, ssh-agent) choose the key)",
        f"{path}:5: hosts.b.identity: the key file {tmp_path}/keys is not a file"
        " (leave identity out to let ssh (~/.ssh/config, ssh-agent) choose the key)",
    ]


@pytest.mark.parametrize(
    ("name", "suggestion"), [("MyApp", "myapp"), ("my.app", "my-app"), ("Web.V2", "web-v2")]
)
def test_a_service_name_compose_refuses_is_an_inventory_error(
    tmp_path: Path, name: str, suggestion: str
) -> None:
    path = write(tmp_path, f"hosts:\n  nas:\n    services:\n      - {name}\n")
    (found,) = problems(path)
    assert found.startswith(f"{path}:4: hosts.nas.services: '{name}' is not a valid service name")
    assert "lowercase" in found and f"e.g. '{suggestion}'" in found


def test_host_and_group_names_keep_their_wider_rule(tmp_path: Path) -> None:
    path = write(tmp_path, "groups: {Edge.1: {}}\nhosts: {Pi.1: {groups: [Edge.1], services: [a]}}")
    assert [h.name for h in load_inventory(path).hosts] == ["Pi.1"]


def test_no_default_inventory_says_where_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare `fleet plan` in a folder without inventory/hosts.yml (fleet's own clone too)."""
    monkeypatch.chdir(tmp_path)
    (found,) = problems(Path(DEFAULT_INVENTORY))
    assert found == (
        "fleet: no inventory at inventory/hosts.yml (copy"
        " examples/homelab.yml from fleet's repository there and make it yours"
        " (docs/quickstart.md), or pass -i PATH or set FLEET_INVENTORY)"
    )
    (other,) = problems(tmp_path / "nosuch.yml")
    assert other.endswith(
        "no inventory at " + str(tmp_path / "nosuch.yml") + " (pass -i PATH or set FLEET_INVENTORY)"
    )
