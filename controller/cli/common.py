"""What the commands share: the inventory and selection, the knobs every command that
reaches hosts takes (one options object), the exit code of a report."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import ExitStatus, FleetError
from controller.options import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HANDSHAKES,
    ConnectOptions,
    EngineOptions,
)
from controller.report.model import FleetReport
from controller.report.words import plural
from inventory import DEFAULT_INVENTORY, Host, Inventory, load_inventory
from inventory.names import closest, did_you_mean


def inventory_path(inventory: Path | None) -> Path:
    return inventory if inventory is not None else Path(DEFAULT_INVENTORY)


def inventory_arg(inventory: Path | None) -> str | None:
    """How the next command must name the inventory (only when -i was given)."""
    if inventory is None or str(inventory) == os.environ.get("FLEET_INVENTORY"):
        return None
    return str(inventory)


def load(inventory: Path | None) -> Inventory:
    """Load before anything is contacted: errors here exit 2."""
    return load_inventory(inventory_path(inventory))


def select(inventory: Path | None, expr: str) -> list[Host]:
    """Load and select before anything is contacted: errors here exit 2."""
    return load(inventory).select(expr)


def one_selection(named: list[str] | None, hosts: str | None, command: str) -> str:
    """The hosts of a command that takes them as arguments or as --hosts (one, not both)."""
    if named and hosts is not None:
        raise FleetError(
            f"{command} takes its hosts as arguments or as --hosts, not both",
            hint=f"fleet {command} --hosts {','.join(named)}",
        )
    if hosts is not None:
        return hosts
    if named:
        return ",".join(named)
    raise FleetError(
        f"{command} needs the hosts to act on", hint=f"fleet {command} --hosts NAME,NAME"
    )


def select_one(inventory: Path | None, name: str, command: str) -> Host:
    """The one host a one-host command names; a selection of several is a usage error
    naming them (never silently the first)."""
    selected = select(inventory, name)
    if len(selected) != 1:
        names = ", ".join(h.name for h in selected)
        raise FleetError(
            f"{name!r} selects {plural(len(selected), 'host')} ({names}); {command} takes one host",
            hint=f"name one host, e.g. {selected[0].name}" if selected else None,
        )
    return selected[0]


def check_service(host: Host, service: str) -> None:
    """A service the host does not run (in the inventory) is a usage error, before any contact."""
    if service not in host.services:
        known = ", ".join(host.services) or "none"
        raise FleetError(
            f"{host.name} has no service {service!r} in the inventory (its services: {known})",
            hint=did_you_mean(closest(service, host.services)),
        )


@dataclass(frozen=True)
class Knobs:
    """The options of a command that reaches hosts, as given (one object, not a row of
    positional values); `options()` makes the run's EngineOptions of them."""

    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    accept_new: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    handshakes: int = DEFAULT_HANDSHAKES
    reconnect_timeout: float = 0.0
    verify_timeout: int | None = None
    pull: str | None = None

    def options(self, **more: Any) -> EngineOptions:
        # The job carries a verify timeout only when the operator set one.
        timeouts = {} if self.verify_timeout is None else {"verify_s": self.verify_timeout}
        return EngineOptions(
            concurrency=self.concurrency,
            handshakes=self.handshakes,
            reconnect_timeout=self.reconnect_timeout,
            timeouts=timeouts,
            pull=self.pull,
            connect=ConnectOptions(
                connect_timeout=self.connect_timeout, accept_new=self.accept_new
            ),
            **more,
        )


def exit_for(report: FleetReport) -> ExitStatus:
    return ExitStatus.OK if report.completed else ExitStatus.NOT_COMPLETED
