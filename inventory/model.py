"""The resolved inventory: plain, typed, immutable values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from inventory.selection import select_hosts

DEFAULT_INVENTORY = "inventory/hosts.yml"
DEFAULT_ROOT = "/opt/homelab"
DEFAULT_COMPOSE_COMMAND: tuple[str, ...] = ("docker", "compose")

Connection = Literal["ssh", "local"]
PullPolicy = Literal["missing", "always", "never"]
Source = Literal["git", "push"]
Become = Literal["sudo"]
OnFailure = Literal["stop", "rollback"]


@dataclass(frozen=True)
class Host:
    """One host with defaults, groups and its own keys already merged.

    `None` for user, port, identity and known_hosts means "not set here": ssh
    (~/.ssh/config, the current user, port 22, the user's known_hosts) decides.
    """

    name: str
    address: str = ""  # "" becomes the host's name
    user: str | None = None
    port: int | None = None
    identity: str | None = None  # a local key file, absolute, ~ expanded
    groups: tuple[str, ...] = ()
    services: tuple[str, ...] = ()  # deploy order
    root: str = DEFAULT_ROOT
    repo: str = ""  # "" becomes <root>/repo
    known_hosts: str | None = None  # a local file, absolute, ~ expanded
    connection: Connection = "ssh"
    compose_command: tuple[str, ...] = DEFAULT_COMPOSE_COMMAND
    pull: PullPolicy = "missing"  # when prepare pulls images (DESIGN.md)
    source: Source = "git"  # git: the host's own checkout; push: sent by the controller
    become: Become | None = None  # sudo: the runner's docker and compose run with `sudo -n`
    on_failure: OnFailure = "stop"  # rollback: a failed deploy goes back to the last good release

    def __post_init__(self) -> None:
        # Frozen: the two derived defaults are filled in once, here (and only here:
        # the loader leaves an address or repo the inventory does not set as "").
        if not self.address:
            object.__setattr__(self, "address", self.name)
        if not self.repo:
            object.__setattr__(self, "repo", f"{self.root.rstrip('/')}/repo")


@dataclass(frozen=True)
class Inventory:
    """A valid inventory: its hosts in file order, its groups' members, its notify URLs."""

    path: Path
    hosts: tuple[Host, ...]
    groups: Mapping[str, tuple[str, ...]]  # every declared group -> member names, host order
    notify: tuple[str, ...] = ()  # Apprise URLs told of each run's end (docs/notify.md)
    # Where each host's things are written, for errors found after loading: "hosts.nas" ->
    # the host's line, "hosts.nas.source" -> the line that set it (defaults, a group or the
    # host), "hosts.nas.services.web" -> the line that first listed the service.
    lines: Mapping[str, int] = field(default_factory=dict)

    def line(self, *keys: str) -> int:
        """The line of the first of `keys` the file sets; 0 when none is known."""
        return next((self.lines[k] for k in keys if k in self.lines), 0)

    def select(self, expr: str) -> list[Host]:
        """The hosts named by a --hosts expression, in inventory order, each once.

        `expr` is a comma list of: `all`, a host name, `@group`, or a shell glob
        (`pi-*`). Raises SelectionError naming every term that matches nothing.
        """
        return select_hosts(self.hosts, self.groups, expr)
