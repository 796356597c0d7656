"""`fleet logs HOST [SERVICE]`: a service's container logs, or the host's last run log."""

# No `from __future__ import annotations` here: Typer would compile and eval every
# parameter's annotation string at each start (~1 ms); real annotations cost nothing.
import asyncio
import sys
from typing import Annotated

import typer

from controller.cli.app import app
from controller.cli.boundary import boundary, error, frozen_imports
from controller.cli.common import Knobs, check_service, select_one
from controller.cli.completion import complete_hosts
from controller.cli.params import AcceptNewOpt, ConnectTimeoutOpt, InventoryOpt
from controller.errors import ExitStatus
from controller.options import DEFAULT_CONNECT_TIMEOUT
from controller.report.store import RunStore, state_dir


@app.command()
def logs(
    host: Annotated[
        str, typer.Argument(help="The host (one name).", autocompletion=complete_hosts)
    ],
    service: Annotated[
        str | None,
        typer.Argument(help="A service: its container logs (default: the host's last run log)."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming until Ctrl-C.")
    ] = False,
    tail: Annotated[str, typer.Option("--tail", "-n", help="Last N lines, or all.")] = "200",
    since: Annotated[
        str | None, typer.Option("--since", help="Container logs since (e.g. 10m, 2026-11-27).")
    ] = None,
    inventory: InventoryOpt = None,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    accept_new: AcceptNewOpt = False,
) -> None:
    """A service's container logs (secrets masked on the host), or the host's last run log."""
    with frozen_imports():
        from controller import logs as hostlogs

    with boundary():
        request = hostlogs.make_request(service, tail, since, follow)
        selected = select_one(inventory, host, "logs")
        if service is not None:
            check_service(selected, service)
        options = Knobs(connect_timeout, accept_new, concurrency=1).options()
        out = sys.stdout.buffer

        def write(data: bytes) -> None:
            out.write(data)
            out.flush()

        def say(line: str) -> None:
            error(f"fleet: {line}")

        try:
            code = asyncio.run(
                hostlogs.show_logs(selected, options, request, write, say, RunStore(state_dir()))
            )
        except KeyboardInterrupt:
            code = ExitStatus.OK  # --follow ends here; the host stops its side by itself
    raise typer.Exit(code)
