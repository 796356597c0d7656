"""`fleet outdated`: which images have newer versions in their registries, on every host,
pulling nothing (exit 0 all current, 1 something is not, 2 usage)."""

# No `from __future__ import annotations` here: Typer would compile and eval every
# parameter's annotation string at each start (~1 ms); real annotations cost nothing.
import asyncio
import json
import sys

import typer

from controller.cli.after import Afterwards, notify_when_needed
from controller.cli.app import app
from controller.cli.boundary import boundary, frozen_imports, stdout_console
from controller.cli.common import Knobs, load
from controller.cli.params import (
    AcceptNewOpt,
    ConcurrencyOpt,
    ConnectTimeoutOpt,
    HandshakesOpt,
    HostsOpt,
    InventoryOpt,
    JsonOpt,
    NoNotifyOpt,
    NotifyOpt,
)
from controller.errors import ExitStatus
from controller.options import DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKES


@app.command()
def outdated(
    hosts: HostsOpt = "all",
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    accept_new: AcceptNewOpt = False,
    notify: NotifyOpt = None,
    no_notify: NoNotifyOpt = False,
) -> None:
    """Which images the registries have newer versions of, asked by each host's own
    Docker engine: nothing is pulled. With --notify (or the inventory's notify:), a
    message only when something is not current."""
    with frozen_imports():
        from controller import fanout
        from controller.outdated import all_current, outdated_json

    with boundary(as_json):
        inv = load(inventory)
        selected = inv.select(hosts)
        options = Knobs(
            connect_timeout, accept_new, concurrency=concurrency, handshakes=handshakes
        ).options()
        found = asyncio.run(fanout.outdated(selected, options))
        report = outdated_json(found)
        if as_json:
            sys.stdout.write(json.dumps(report) + "\n")
        else:
            from controller.outdated import render_outdated

            render_outdated(stdout_console(), found)
        notify_when_needed(report, "outdated", inv.notify, Afterwards.of(None, notify, no_notify))
        code = ExitStatus.OK if all_current(found) else ExitStatus.NOT_COMPLETED
    raise typer.Exit(code)
