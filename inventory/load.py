"""Load an inventory file: check every key, report every problem, resolve each host.

Resolution: the `defaults:` block, then each of the host's groups in the order the
host lists them, then the host's own keys; a later layer overrides an earlier one.
Services: every group's services in that same order, then the host's own, each
service once (its first occurrence decides its place).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from yaml.nodes import MappingNode, Node

from inventory.errors import InventoryError
from inventory.fields import INVALID, PARSERS, SETTINGS, Field, Invalid, name_list
from inventory.model import (
    DEFAULT_COMPOSE_COMMAND,
    DEFAULT_INVENTORY,
    DEFAULT_ROOT,
    Host,
    Inventory,
    PullPolicy,
)
from inventory.names import NAME_RULE, closest, did_you_mean, is_name
from inventory.notify import notify_urls
from inventory.yamltree import Entry, Report, compose, entries, is_null, kind, line_of

TOP_KEYS = ("defaults", "groups", "hosts", "notify")
HOST_KEYS = ("address", *SETTINGS, "groups", "services")
GROUP_KEYS = ("services", *SETTINGS)
DEFAULTS_KEYS = tuple(SETTINGS)
# Why a key that is fine on a host is refused in another block.
MISPLACED = {
    "address": "set the address on each host",
    "services": "give services to a group or a host",
    "groups": "list a host's groups on the host",
}
NamedNodes = list[tuple[str, Node]]
# A homelab's inventory is a few kilobytes (1000 hosts: about 100 KB); a file past this is
# a wrong -i (a disk image, /dev/zero), refused before it is read whole.
MAX_BYTES = 4 * 2**20
# A first `fleet plan` in a new folder (or in fleet's clone, which ships only an example).
NO_DEFAULT_HINT = (
    "copy examples/homelab.yml from fleet's repository there and make it yours"
    " (docs/quickstart.md), or pass -i PATH or set FLEET_INVENTORY"
)


@dataclass
class Block:
    """The checked keys of one defaults, group or host mapping."""

    settings: dict[str, object] = field(default_factory=dict)
    services: NamedNodes | Invalid = field(default_factory=list)
    groups: NamedNodes | Invalid = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # setting -> the line of its value


@dataclass
class Loader:
    """The state of loading one file: where it is and what is wrong with it."""

    report: Report
    base: Path
    lines: dict[str, int] = field(default_factory=dict)  # see Inventory.lines

    def block(self, node: Node, path: str, allowed: tuple[str, ...], where: str) -> Block | None:
        """Check a mapping of settings; None when it is not a mapping at all."""
        if is_null(node):
            return Block()
        if not isinstance(node, MappingNode):
            hint = "e.g. {address: 192.168.1.10, services: [web]}" if where == "a host" else None
            self.report.add(node, path, f"must be a mapping of settings, not {kind(node)}", hint)
            return None
        block = Block()
        for entry in entries(node, self.report, path):
            if entry.name in allowed:
                self.value(block, entry, f"{path}.{entry.name}")
            else:
                self.unknown(entry, path, allowed, where)
        return block

    def value(self, block: Block, entry: Entry, key: str) -> None:
        """Check one key's value into `block`."""
        f = Field(self.report, entry.value, key, self.base)
        if entry.name == "services":
            block.services = name_list(f, "service")
        elif entry.name == "groups":
            block.groups = name_list(f, "group")
        else:
            value = PARSERS[entry.name](f)
            if value is not INVALID:
                block.settings[entry.name] = value
                block.lines[entry.name] = line_of(entry.value)

    def unknown(self, entry: Entry, path: str, allowed: tuple[str, ...], where: str) -> None:
        """Report a key this block does not take, with the closest one it does."""
        key = f"{path}.{entry.name}" if path else entry.name
        if entry.name in MISPLACED:
            message = f"'{entry.name}' is not allowed in {where}"
            self.report.add(entry.key, key, message, MISPLACED[entry.name])
            return
        hint = did_you_mean(closest(entry.name, allowed)) or "known keys: " + ", ".join(allowed)
        self.report.add(entry.key, key, f"unknown key '{entry.name}'", hint)

    def groups(self, node: Node) -> dict[str, Block]:
        """The `groups:` block: group name -> its checked settings and services."""
        if is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            self.report.add(node, "groups", f"must be a mapping of groups, not {kind(node)}")
            return {}
        found: dict[str, Block] = {}
        for entry in entries(node, self.report, "groups", what="group"):
            path = f"groups.{entry.name}"
            if not is_name(entry.name):
                self.report.add(
                    entry.key, path, f"'{entry.name}' is not a valid group name", NAME_RULE
                )
            block = self.block(entry.value, path, GROUP_KEYS, "a group")
            found[entry.name] = block if block is not None else Block(services=INVALID)
        return found

    def host(self, entry: Entry, defaults: Block, groups: dict[str, Block]) -> Host | None:
        """Check one host and resolve it over the defaults and its groups."""
        path = f"hosts.{entry.name}"
        self.host_name(entry, path)
        block = self.block(entry.value, path, HOST_KEYS, "a host")
        if block is None:
            return None
        layers, complete = self.layers(block, groups, path)
        services = _services(layers) if complete else None
        if services is not None and not services:
            hint = "list services: on the host or on one of its groups"
            self.report.add(entry.key, path, f"host '{entry.name}' has no services", hint)
        settings: dict[str, object] = {}
        for layer in (defaults, *layers):
            settings.update(layer.settings)
        self.remember(path, line_of(entry.key), [defaults, *layers])
        listed = block.groups if isinstance(block.groups, list) else []
        member_of = tuple(dict.fromkeys(g for g, _ in listed))
        return _host(entry.name, settings, member_of, tuple(services or ()))

    def remember(self, path: str, line: int, layers: list[Block]) -> None:
        """Where the host's resolved settings and services were written (last layer wins,
        as for the values; a service's first listing, as for its place)."""
        self.lines[path] = line
        for layer in layers:
            self.lines.update({f"{path}.{key}": n for key, n in layer.lines.items()})
        for layer in layers:
            for name, node in layer.services if isinstance(layer.services, list) else []:
                self.lines.setdefault(f"{path}.services.{name}", line_of(node))

    def host_name(self, entry: Entry, path: str) -> None:
        """A host name must be plain, and `all` is taken by --hosts all."""
        if entry.name == "all":
            self.report.add(entry.key, path, "'all' is reserved: --hosts all means every host")
        elif not is_name(entry.name):
            self.report.add(entry.key, path, f"'{entry.name}' is not a valid host name", NAME_RULE)

    def layers(self, block: Block, groups: dict[str, Block], path: str) -> tuple[list[Block], bool]:
        """The host's groups in its order, then the host; False if any part is unusable."""
        if isinstance(block.groups, Invalid):
            return [block], False
        layers: list[Block] = []
        seen: set[str] = set()
        complete = True
        for name, node in block.groups:
            if name in groups:
                if name not in seen:  # a group listed twice counts once, in its first place
                    seen.add(name)
                    layers.append(groups[name])
                continue
            complete = False
            hint = did_you_mean(closest(name, groups)) or (
                f"declared groups: {', '.join(groups)}"
                if groups
                else "no groups are declared; add it under groups:"
            )
            self.report.add(node, f"{path}.groups", f"unknown group '{name}'", hint)
        return [*layers, block], complete


def _services(layers: list[Block]) -> list[str] | None:
    """Every layer's services in order, each once; None if a layer's list was invalid."""
    merged: dict[str, None] = {}
    for layer in layers:
        if isinstance(layer.services, Invalid):
            return None
        for name, _ in layer.services:
            merged.setdefault(name, None)  # a repeat keeps its first place
    return list(merged)


def _host(
    name: str, settings: dict[str, object], groups: tuple[str, ...], services: tuple[str, ...]
) -> Host:
    """Build the Host value from checked settings (their types are already right).

    A key left out is left to Host's own defaults ("" address and repo included).
    """
    compose_command = settings.get("compose_command")
    port = settings.get("port")
    return Host(
        name=name,
        address=_opt(settings.get("address")) or "",
        user=_opt(settings.get("user")),
        port=port if isinstance(port, int) else None,
        identity=_opt(settings.get("identity")),
        groups=groups,
        services=services,
        root=_opt(settings.get("root")) or DEFAULT_ROOT,
        repo=_opt(settings.get("repo")) or "",
        known_hosts=_opt(settings.get("known_hosts")),
        connection="local" if settings.get("connection") == "local" else "ssh",
        compose_command=(
            tuple(str(w) for w in compose_command)
            if isinstance(compose_command, tuple)
            else DEFAULT_COMPOSE_COMMAND
        ),
        pull=_pull(settings.get("pull")),
        source="push" if settings.get("source") == "push" else "git",
        become="sudo" if settings.get("become") == "sudo" else None,
        on_failure="rollback" if settings.get("on_failure") == "rollback" else "stop",
    )


def _pull(value: object) -> PullPolicy:
    return "always" if value == "always" else "never" if value == "never" else "missing"


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) else None


def load_inventory(path: str | Path) -> Inventory:
    """Load and check an inventory file; raise InventoryError with every problem found."""
    report = Report(str(path))
    inventory = _load(Path(path), report)
    if report.problems or inventory is None:
        raise InventoryError(report.sorted())
    return inventory


def _load(path: Path, report: Report) -> Inventory | None:
    """The inventory at `path`, or None (with the reasons in `report`)."""
    text = _read(path, report)
    if text is None:
        return None
    root = compose(text, report)
    if root is None:
        if not report.problems:
            report.add(1, "hosts", "the inventory is empty", "add a hosts: block")
        return None
    if not isinstance(root, MappingNode):
        report.add(root, "file", f"must be a mapping with a hosts: block, not {kind(root)}")
        return None
    return _resolve(path, root, Loader(report, path.parent))


def _read(path: Path, report: Report) -> str | None:
    """The file's text: refused unread past MAX_BYTES (`-i /dev/zero` never ends)."""
    hint = "pass -i PATH or set FLEET_INVENTORY"
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        default = path == Path(DEFAULT_INVENTORY)
        report.add(0, "file", f"no inventory at {path}", NO_DEFAULT_HINT if default else hint)
        return None
    except OSError as exc:
        report.add(0, "file", f"cannot read the inventory: {exc.strerror or exc}", hint)
        return None
    if len(data) > MAX_BYTES:
        limit = f"{MAX_BYTES // 2**20} MB"
        report.add(0, "file", f"the inventory is larger than {limit}: is it the right file?", hint)
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        report.add(0, "file", "cannot read the inventory: not UTF-8 text", hint)
        return None


def _resolve(path: Path, root: MappingNode, loader: Loader) -> Inventory:
    """Check the top-level blocks, then every host against them."""
    top: dict[str, Entry] = {}
    for entry in entries(root, loader.report, ""):
        if entry.name in TOP_KEYS:
            top[entry.name] = entry
        else:
            loader.unknown(entry, "", TOP_KEYS, "the top level")
    defaults = Block()
    if "defaults" in top:
        defaults = (
            loader.block(top["defaults"].value, "defaults", DEFAULTS_KEYS, "defaults") or Block()
        )
    groups = loader.groups(top["groups"].value) if "groups" in top else {}
    hosts = _hosts(top.get("hosts"), root, loader, defaults, groups)
    members = {g: tuple(h.name for h in hosts if g in h.groups) for g in groups}
    notify = _notify(top.get("notify"), loader)
    lines = MappingProxyType(loader.lines)
    return Inventory(path, tuple(hosts), MappingProxyType(members), notify, lines)


def _notify(entry: Entry | None, loader: Loader) -> tuple[str, ...]:
    """The `notify:` URLs; () when left out, or when invalid (and then reported)."""
    if entry is None:
        return ()
    urls = notify_urls(Field(loader.report, entry.value, "notify", loader.base))
    return urls if isinstance(urls, tuple) else ()


def _hosts(
    entry: Entry | None, root: Node, loader: Loader, defaults: Block, groups: dict[str, Block]
) -> list[Host]:
    """Every host of the `hosts:` block, checked and resolved."""
    report = loader.report
    if entry is None:
        report.add(line_of(root), "hosts", "no hosts: block", "add hosts: with at least one host")
        return []
    node = entry.value
    if is_null(node) or (isinstance(node, MappingNode) and not node.value):
        report.add(entry.key, "hosts", "no hosts defined", "add at least one host under hosts:")
        return []
    if not isinstance(node, MappingNode):
        report.add(node, "hosts", f"must be a mapping of host names, not {kind(node)}")
        return []
    found = [loader.host(e, defaults, groups) for e in entries(node, report, "hosts", what="host")]
    return [h for h in found if h is not None]
