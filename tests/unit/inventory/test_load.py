"""Loading valid inventories: defaults, merge order, types, and the shipped example."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from inventory import (
    DEFAULT_INVENTORY,
    Host,
    InventoryError,
    Problem,
    check_push_repo,
    load_inventory,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "homelab.yml"
DOCUMENTATION_NETWORKS = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")


def write(tmp_path: Path, text: str, name: str = "hosts.yml") -> Path:
    """Write an inventory (dedented) into tmp_path and return its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_minimal_host_gets_every_default(tmp_path: Path) -> None:
    """A host with only services resolves to the documented defaults."""
    inv = load_inventory(write(tmp_path, "hosts: {nas: {services: [files]}}"))
    assert inv.hosts == (
        Host(
            name="nas",
            address="nas",
            user=None,
            port=None,
            identity=None,
            groups=(),
            services=("files",),
            root="/opt/homelab",
            repo="/opt/homelab/repo",
            known_hosts=None,
            connection="ssh",
            compose_command=("docker", "compose"),
        ),
    )
    assert inv.groups == {}


def test_path_is_kept_as_given(tmp_path: Path) -> None:
    """inv.path is a Path to the file that was loaded; str paths are accepted too."""
    path = write(tmp_path, "hosts: {nas: {services: [files]}}")
    assert load_inventory(str(path)).path == path


def test_host_overrides_group_overrides_defaults(tmp_path: Path) -> None:
    """Settings resolve defaults, then groups in the host's order, then the host itself."""
    path = write(
        tmp_path,
        """\
        defaults: {user: admin, port: 22, root: /srv/lab, connection: ssh}
        groups:
          lte: {port: 2222, user: lte}
          late: {port: 2200}
        hosts:
          CHELSTY: {groups: [lte, late], user: chel, services: [relay]}
          nas: {services: [files]}
        """,
    )
    chelsty, nas = load_inventory(path).hosts
    assert (chelsty.user, chelsty.port, chelsty.root) == ("chel", 2200, "/srv/lab")
    assert (nas.user, nas.port, nas.repo) == ("admin", 22, "/srv/lab/repo")


def test_null_on_a_host_unsets_a_default(tmp_path: Path) -> None:
    """`user:` left empty on a host hands the user back to ssh, whatever the defaults say."""
    path = write(
        tmp_path,
        """\
        defaults: {user: root, port: 2222}
        hosts:
          nas: {user: , port: ~, services: [files]}
        """,
    )
    (nas,) = load_inventory(path).hosts
    assert (nas.user, nas.port) == (None, None)


def test_services_merge_groups_first_then_host_without_duplicates(tmp_path: Path) -> None:
    """Group services come first in the host's group order, then its own; first occurrence wins."""
    path = write(
        tmp_path,
        """\
        groups:
          storage: {services: [files, backup]}
          monitored: {services: [metrics, backup]}
        hosts:
          nas:
            groups: [monitored, storage, monitored]
            services: [media, files, media]
        """,
    )
    (nas,) = load_inventory(path).hosts
    assert nas.services == ("metrics", "backup", "files", "media")
    assert nas.groups == ("monitored", "storage")


def test_groups_map_to_members_in_inventory_order(tmp_path: Path) -> None:
    """inv.groups lists every declared group, empty ones too, members in host order."""
    path = write(
        tmp_path,
        """\
        groups: {edge: {}, minis: , unused: {}}
        hosts:
          pi-1: {groups: [edge], services: [dns]}
          mini-1: {groups: [minis], services: [web]}
          CHELSTY: {groups: [edge], services: [relay]}
        """,
    )
    assert load_inventory(path).groups == {
        "edge": ("pi-1", "CHELSTY"),
        "minis": ("mini-1",),
        "unused": (),
    }


def test_repo_follows_root_unless_given(tmp_path: Path) -> None:
    """repo defaults to <root>/repo of the final root; an explicit repo wins; both normalised."""
    path = write(
        tmp_path,
        """\
        hosts:
          a: {root: /data/homelab/, services: [x]}
          b: {root: /data/homelab, repo: /src/checkout/, services: [y]}
        """,
    )
    a, b = load_inventory(path).hosts
    assert (a.root, a.repo) == ("/data/homelab", "/data/homelab/repo")
    assert (b.root, b.repo) == ("/data/homelab", "/src/checkout")


def test_compose_command_string_or_list(tmp_path: Path) -> None:
    """compose_command may be a shell-like string (split with shlex) or a list of words."""
    path = write(
        tmp_path,
        """\
        defaults: {compose_command: "podman compose --podman-args '--log-level warn'"}
        hosts:
          a: {services: [x]}
          b: {compose_command: [docker-compose], services: [y]}
        """,
    )
    a, b = load_inventory(path).hosts
    assert a.compose_command == ("podman", "compose", "--podman-args", "--log-level warn")
    assert b.compose_command == ("docker-compose",)


def test_local_paths_expand_home_and_resolve_from_the_inventory_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """identity and known_hosts expand ~ and are read relative to the inventory's folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    (tmp_path / "home" / ".ssh" / "id_lab").write_text("key\n")
    path = write(
        tmp_path,
        """\
        hosts:
          a: {identity: ~/.ssh/id_lab, known_hosts: keys/known_hosts, services: [x]}
        """,
    )
    (a,) = load_inventory(path).hosts
    assert a.identity == os.path.expanduser("~/.ssh/id_lab")
    assert a.known_hosts == str(tmp_path / "keys" / "known_hosts")


def test_local_connection_and_numeric_names(tmp_path: Path) -> None:
    """connection: local is kept; names written as numbers (2048) are taken as written."""
    path = write(tmp_path, "hosts: {'1': {connection: local, services: [2048, web_v2]}}")
    (host,) = load_inventory(path).hosts
    assert (host.name, host.connection, host.services) == ("1", "local", ("2048", "web_v2"))


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    """`<<: *anchor` brings keys in; a key written beside it overrides them without error."""
    path = write(
        tmp_path,
        """\
        hosts:
          mini-1: &mini {port: 2200, user: ops, services: [web]}
          mini-2:
            <<: *mini
            services: [git]
        """,
    )
    _, mini2 = load_inventory(path).hosts
    assert (mini2.port, mini2.user, mini2.services) == (2200, "ops", ("git",))


def test_unreadable_file_is_an_inventory_error(tmp_path: Path) -> None:
    """A missing file is reported as a problem of that file (line 0), not a traceback."""
    missing = tmp_path / "nope.yml"
    with pytest.raises(InventoryError) as caught:
        load_inventory(missing)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.key) == (str(missing), 0, "file")
    assert problem.message == f"no inventory at {missing}"


def test_non_utf8_file_is_an_inventory_error(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give one clear problem."""
    path = tmp_path / "latin1.yml"
    path.write_bytes(b"hosts: {caf\xe9: {services: [x]}}\n")
    with pytest.raises(InventoryError, match="not UTF-8"):
        load_inventory(path)


def test_problem_and_error_text() -> None:
    """Problem prints FILE:LINE: key: message (hint); InventoryError prints one per line."""
    with_hint = Problem("inv.yml", 7, "hosts.nas.port", "port 0 is out of range", "use 1..65535")
    without = Problem("inv.yml", 9, "hosts.x", "duplicate host 'x'", None)
    assert str(with_hint) == "inv.yml:7: hosts.nas.port: port 0 is out of range (use 1..65535)"
    assert str(without) == "inv.yml:9: hosts.x: duplicate host 'x'"
    error = InventoryError([with_hint, without])
    assert str(error) == f"{with_hint}\n{without}"
    assert error.problems == [with_hint, without]


def test_host_value_defaults_when_built_directly() -> None:
    """Host(name=...) alone fills address from the name and repo from the root."""
    host = Host(name="pi-1", root="/srv")
    assert (host.address, host.repo, host.compose_command) == (
        "pi-1",
        "/srv/repo",
        ("docker", "compose"),
    )


def test_example_inventory_loads() -> None:
    """examples/homelab.yml is valid: the homelab of five hosts with their groups."""
    inv = load_inventory(EXAMPLE)
    assert [h.name for h in inv.hosts] == ["nas", "mini-1", "mini-2", "pi-1", "CHELSTY"]
    assert inv.select("@minis") == [inv.hosts[1], inv.hosts[2]]
    assert all(2 <= len(h.services) <= 3 for h in inv.hosts)


def test_example_addresses_reach_nothing() -> None:
    """Only documentation addresses (RFC 5737): a copied example never calls a real LAN."""
    documentation = [ipaddress.ip_network(n) for n in DOCUMENTATION_NETWORKS]
    for host in load_inventory(EXAMPLE).hosts:
        address = ipaddress.ip_address(host.address)
        assert any(address in net for net in documentation), f"{host.name}: {address}"


def test_the_example_is_not_the_default_inventory() -> None:
    """A bare `fleet deploy` in the clone must not pick the example up."""
    assert EXAMPLE.resolve() != (REPO / DEFAULT_INVENTORY).resolve()
    if shutil.which("git") and (REPO / ".git").exists():
        tracked = subprocess.run(
            ["git", "ls-files", DEFAULT_INVENTORY], cwd=REPO, capture_output=True, text=True
        )
        assert tracked.stdout == "", f"{DEFAULT_INVENTORY} is in the repository"


def test_example_services_are_defined_and_unique() -> None:
    """Every example service has a compose definition, and no service is on two hosts.

    The demo lab runs every host on one Docker daemon with project name = service name,
    so a service on two hosts would be one project deployed twice.
    """
    inv = load_inventory(EXAMPLE)
    services = [s for h in inv.hosts for s in h.services]
    assert len(services) == len(set(services))
    folder = EXAMPLE.parent / "services"
    for service in services:
        definitions = [folder / service / n for n in ("compose.yaml", "docker-compose.yml")]
        assert any(d.is_file() for d in definitions), f"no definition for {service}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(services)
    checks = [folder / s / "healthcheck.sh" for s in services]
    assert [c for c in checks if c.is_file()], "no example service has a healthcheck.sh"
    assert all(os.access(c, os.X_OK) for c in checks if c.is_file())
    check_push_repo(inv, inv.hosts, EXAMPLE.parent)  # its push host finds them beside it


def test_example_data_is_not_packaged() -> None:
    """The example is the repository's, not the installed package's (site-packages)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert "inventory" not in setuptools.get("package-data", {})
    assert not any(p.startswith("examples") for p in setuptools["packages"]["find"]["include"])


def test_group_listed_twice_counts_once_in_its_first_place(tmp_path: Path) -> None:
    """groups: [a, b, a] layers a then b: b's settings win, as if a were listed once."""
    path = write(
        tmp_path,
        """\
        groups: {a: {port: 2201}, b: {port: 2202}}
        hosts:
          nas: {groups: [a, b, a], services: [files]}
        """,
    )
    (nas,) = load_inventory(path).hosts
    assert (nas.port, nas.groups) == (2202, ("a", "b"))
