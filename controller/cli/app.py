"""The `fleet` command line: the only module that imports Typer.

One error boundary: the project's own errors become one line on stderr and a named exit
code; anything unexpected gets a short message and its traceback in a log file.
"""

# No `from __future__ import annotations` here: Typer would compile and eval every
# parameter's annotation string at each start (~1 ms); real annotations cost nothing.
import asyncio
import contextlib
import gc
import json
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from controller.cli.completion import complete_hosts
from controller.errors import ExitStatus, FleetError
from controller.options import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HANDSHAKES,
    DEFAULT_RECONNECT_TIMEOUT,
    ConnectOptions,
    Count,
    EngineOptions,
    RolloutOptions,
)
from controller.report.model import FleetReport
from controller.report.store import RunStore, state_dir
from controller.report.waves import continuation, parse_batch, parse_max_fail, wave_map
from inventory import DEFAULT_INVENTORY, Host, InventoryError, SelectionError, load_inventory
from remote.protocol import PULL_POLICIES

if TYPE_CHECKING:
    from rich.console import Console

    from controller.session.host import OnUpdate

app = typer.Typer(
    name="fleet",
    help="Deploy Docker Compose services to a homelab fleet over SSH, resumably.",
    no_args_is_help=True,
    # Typer's completion options cost a start nothing measurable (docs/design.md, CLI).
    add_completion=True,
    # Locals can hold keys and passwords: never print them in a traceback.
    pretty_exceptions_show_locals=False,
)

T = TypeVar("T")

InventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "-i",
        "--inventory",
        envvar="FLEET_INVENTORY",
        help=f"Inventory file [default: {DEFAULT_INVENTORY}].",
        show_envvar=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", min=1, help="Hosts run at the same time.")
]
ReconnectOpt = Annotated[
    float,
    typer.Option("--reconnect-timeout", min=0, help="Seconds to wait for a dropped host."),
]
ConnectTimeoutOpt = Annotated[
    float, typer.Option("--connect-timeout", min=1, help="Seconds to allow one SSH connect.")
]


def _pull_policy(value: str | None) -> str | None:
    if value is not None and value not in PULL_POLICIES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(PULL_POLICIES)}")
    return value


PullOpt = Annotated[
    str | None,
    typer.Option(
        "--pull",
        callback=_pull_policy,
        help="Image pull policy for this run, over the inventory's: missing, always, never.",
    ),
]
VerifyTimeoutOpt = Annotated[
    int | None,
    typer.Option(
        "--verify-timeout",
        min=1,
        help="Seconds a service may take to become healthy (default: the runner's, 60).",
    ),
]
AcceptNewOpt = Annotated[
    bool,
    typer.Option(
        "--accept-new",
        help="Add an unknown host key to known_hosts on first contact (never a changed one).",
    ),
]
HandshakesOpt = Annotated[
    int,
    typer.Option(
        "--handshakes",
        min=1,
        help="SSH handshakes at the same time (below sshd's MaxStartups, default 10).",
    ),
]
RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo",
        help="source: push hosts get services/ from here [default: the inventory's folder].",
    ),
]
HostsOpt = Annotated[
    str,
    typer.Option(
        "--hosts",
        "-H",
        help="all, NAME,NAME, @group or a glob like 'pi-*'.",
        autocompletion=complete_hosts,
    ),
]


def _count_parser(parse: "Callable[[str], Count]") -> "Callable[[str], Count]":
    """A rollout count's parser whose error says what is allowed (not only the value)."""

    def parser(text: str) -> Count:
        try:
            return parse(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return parser


BatchOpt = Annotated[
    Count | None,
    typer.Option(
        "--batch",
        parser=_count_parser(parse_batch),
        metavar="N|P%",
        help="Rolling deploy: hosts per wave, in inventory order (P% rounds up).",
    ),
]
CanaryOpt = Annotated[
    int | None,
    typer.Option("--canary", min=1, help="Rolling deploy: a first wave of N hosts alone."),
]
MaxFailOpt = Annotated[
    Count | None,
    typer.Option(
        "--max-fail",
        parser=_count_parser(parse_max_fail),
        metavar="N|P%",
        help="Failure budget: once more hosts than this did not complete, no new host starts.",
    ),
]


# Rich and the views are imported only when something is rendered: `--json` (what scripts
# and the benchmark use) skips their import time. The engine (and asyncssh with it) is
# imported only by the commands that contact hosts: `report` and `--help` skip it.


@contextlib.contextmanager
def _frozen_imports() -> Iterator[None]:
    """Import with the cyclic GC paused, then freeze everything alive (see main()).

    asyncssh and cryptography make many objects that live as long as the process; left
    to the collector, they are walked during the import and again by the full collection
    at exit (~40 ms of deploy's ~220 ms of CPU). Frozen, they are never walked.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _stdout() -> "Console":
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 160  # a pipe or a log file has no width: do not fold paths at 80
    return console


def _error(*lines: str) -> None:
    """Plain lines on stderr (no markup: messages may hold brackets from paths)."""
    for line in lines:
        sys.stderr.write(line + "\n")


def _crash_log(exc: BaseException) -> Path | None:
    """Write the traceback where the operator can find it; never on the terminal."""
    folder = state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.log"
        path.write_text("".join(traceback.format_exception(exc)))
        return path
    except OSError:
        return None


@contextlib.contextmanager
def _boundary() -> Iterator[None]:
    """The one error boundary of the CLI."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except InventoryError as exc:
        # One `FILE:LINE: key: message (hint)` line per problem, unprefixed, so editors
        # and the operator's eye jump straight to the line.
        _error(str(exc))
        raise typer.Exit(ExitStatus.USAGE) from None
    except SelectionError as exc:
        _error(f"fleet: {exc}")
        raise typer.Exit(ExitStatus.USAGE) from None
    except FleetError as exc:
        _error(f"fleet: {exc}", *([f"hint: {exc.hint}"] if exc.hint else []))
        raise typer.Exit(ExitStatus.USAGE) from None
    except KeyboardInterrupt:
        _error(
            "fleet: interrupted; runs already started go on on the hosts "
            "(`fleet status`, `fleet resume HOST`)"
        )
        raise typer.Exit(ExitStatus.NOT_COMPLETED) from None
    except Exception as exc:  # the boundary: anything unexpected
        where = _crash_log(exc)
        _error(f"fleet: internal error: {type(exc).__name__}: {exc}")
        if where is not None:
            _error(f"the traceback is in {where}")
        raise typer.Exit(ExitStatus.NOT_COMPLETED) from None


def _inventory_path(inventory: Path | None) -> Path:
    return inventory if inventory is not None else Path(DEFAULT_INVENTORY)


def _inventory_arg(inventory: Path | None) -> str | None:
    """How the next command must name the inventory (only when -i was given)."""
    if inventory is None or str(inventory) == os.environ.get("FLEET_INVENTORY"):
        return None
    return str(inventory)


def _select(inventory: Path | None, expr: str) -> list[Host]:
    """Load and select before anything is contacted: errors here exit 2."""
    inv = load_inventory(_inventory_path(inventory))
    return inv.select(expr)


def _options(
    concurrency: int,
    reconnect_timeout: float,
    connect_timeout: float,
    accept_new: bool,
    resume: bool,
    handshakes: int = DEFAULT_HANDSHAKES,
    verify_timeout: int | None = None,
    pull: str | None = None,
) -> EngineOptions:
    # The plan carries a verify timeout only when the operator set one.
    timeouts = {} if verify_timeout is None else {"verify_s": verify_timeout}
    return EngineOptions(
        concurrency=concurrency,
        handshakes=handshakes,
        reconnect_timeout=reconnect_timeout,
        resume=resume,
        timeouts=timeouts,
        pull=pull,
        connect=ConnectOptions(connect_timeout=connect_timeout, accept_new=accept_new),
    )


async def _with_view(
    hosts: list[Host],
    console: "Console | None",
    as_json: bool,
    run: "Callable[[OnUpdate | None], Awaitable[FleetReport]]",
    rollout: RolloutOptions | None = None,
) -> FleetReport:
    """Run the engine under the right view: live table, plain lines, or nothing (--json)."""
    if as_json or console is None:
        return await run(None)
    from controller.report.view import LiveView, PlainView

    waves = wave_map([h.name for h in hosts], rollout or RolloutOptions())
    if not console.is_terminal:
        return await run(PlainView(console, waves).on_update)
    live = LiveView(console, [(h.name, len(h.services)) for h in hosts], waves=waves)
    with live:
        ticker = asyncio.create_task(live.tick())
        try:
            return await run(live.on_update)
        finally:
            ticker.cancel()


def _exit_for(report: FleetReport) -> ExitStatus:
    return ExitStatus.OK if report.completed else ExitStatus.NOT_COMPLETED


def _deploy(
    hosts: list[Host],
    options: EngineOptions,
    as_json: bool,
    inventory_arg: str | None,
) -> ExitStatus:
    with _frozen_imports():
        from controller import fanout

    console = None if as_json else _stdout()
    store = RunStore(state_dir())
    if options.resume:
        # A stopped rollout goes on: its settings, and fresh runs for the never-started.
        cont = continuation(store.recent(), [h.name for h in hosts], options.rollout)
        options = replace(options, rollout=cont.options, fresh=cont.fresh)
    run_id = fanout.new_run_id()
    recorder = store.new_run(run_id)

    def run(on_update: "OnUpdate | None") -> Awaitable[FleetReport]:
        return fanout.deploy(hosts, options, run_id=run_id, on_update=on_update, recorder=recorder)

    report = asyncio.run(_with_view(hosts, console, as_json, run, options.rollout))
    report.command = "rollback" if options.rollback else "resume" if options.resume else "deploy"
    report.inventory_arg = inventory_arg
    recorder.save(report)
    if console is None:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
    else:
        from controller.report.view import render_report

        render_report(console, report, inventory_arg=inventory_arg, record_dir=recorder.dir)
    return _exit_for(report)


def _deploy_command(
    inventory: Path | None, hosts: str, options: EngineOptions, as_json: bool, repo: Path | None
) -> None:
    """deploy and resume: select, run, report, exit with the pinned code."""
    with _boundary():
        selected = _select(inventory, hosts)
        push_repo = repo if repo is not None else _inventory_path(inventory).resolve().parent
        options = replace(options, push_repo=str(push_repo))
        code = _deploy(selected, options, as_json, _inventory_arg(inventory))
    raise typer.Exit(code)


@app.command()
def deploy(
    hosts: HostsOpt = "all",
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue each host from its markers.")
    ] = False,
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    reconnect_timeout: ReconnectOpt = DEFAULT_RECONNECT_TIMEOUT,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    verify_timeout: VerifyTimeoutOpt = None,
    accept_new: AcceptNewOpt = False,
    repo: RepoOpt = None,
    batch: BatchOpt = None,
    canary: CanaryOpt = None,
    max_fail: MaxFailOpt = None,
    pull: PullOpt = None,
) -> None:
    """Deploy every selected host concurrently: one live view, one summary table."""
    options = _options(
        concurrency, reconnect_timeout, connect_timeout, accept_new, resume, handshakes,
        verify_timeout, pull,
    )  # fmt: skip
    rollout = RolloutOptions(batch=batch, canary=canary, max_fail=max_fail)
    _deploy_command(inventory, hosts, replace(options, rollout=rollout), as_json, repo)


@app.command()
def resume(
    hosts: Annotated[
        list[str],
        typer.Argument(
            help="Hosts to resume (names, @group, globs).", autocompletion=complete_hosts
        ),
    ],
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    reconnect_timeout: ReconnectOpt = DEFAULT_RECONNECT_TIMEOUT,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    verify_timeout: VerifyTimeoutOpt = None,
    accept_new: AcceptNewOpt = False,
    repo: RepoOpt = None,
    batch: BatchOpt = None,
    canary: CanaryOpt = None,
    max_fail: MaxFailOpt = None,
    pull: PullOpt = None,
) -> None:
    """Re-attach to a run still going on each host, or continue it from its markers;
    a stopped rollout goes on in waves with its recorded settings unless others are given."""
    options = _options(
        concurrency, reconnect_timeout, connect_timeout, accept_new, True, handshakes,
        verify_timeout, pull,
    )  # fmt: skip
    rollout = RolloutOptions(batch=batch, canary=canary, max_fail=max_fail)
    _deploy_command(inventory, ",".join(hosts), replace(options, rollout=rollout), as_json, repo)


@app.command()
def rollback(
    hosts: Annotated[list[str], typer.Argument(help="Hosts to roll back (names, @group, globs).")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="The release (run id) to go back to [default: the one before]."),
    ] = None,
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    reconnect_timeout: ReconnectOpt = DEFAULT_RECONNECT_TIMEOUT,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    verify_timeout: VerifyTimeoutOpt = None,
    accept_new: AcceptNewOpt = False,
) -> None:
    """Redeploy each host's previous release (or --to RUN_ID), offline, pinned by image ID."""
    options = _options(
        concurrency, reconnect_timeout, connect_timeout, accept_new, False, handshakes,
        verify_timeout,
    )  # fmt: skip
    options = replace(options, rollback=True, rollback_to=to)
    _deploy_command(inventory, ",".join(hosts), options, as_json, None)


@app.command()
def releases(
    host: Annotated[str, typer.Argument(help="The host whose releases to list.")],
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    accept_new: AcceptNewOpt = False,
) -> None:
    """A host's recorded releases, newest first, and which one is current."""
    with _frozen_imports():
        from controller import releases as host_releases

    with _boundary():
        (selected,) = _select(inventory, host)[:1]
        options = _options(1, 0.0, connect_timeout, accept_new, False)
        found = host_releases.fetch(selected, options)
        if as_json:
            sys.stdout.write(json.dumps(found.to_json()) + "\n")
        else:
            host_releases.render_releases(_stdout(), found)
        code = ExitStatus.NOT_COMPLETED if found.error else ExitStatus.OK
    raise typer.Exit(code)


@app.command()
def status(
    hosts: HostsOpt = "all",
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    accept_new: AcceptNewOpt = False,
) -> None:
    """Where every host stands, read from the hosts themselves."""
    with _frozen_imports():
        from controller import fanout

    with _boundary():
        selected = _select(inventory, hosts)
        options = _options(concurrency, 0.0, connect_timeout, accept_new, False, handshakes)
        report = asyncio.run(fanout.status(selected, options))
        report.command = "status"
        if as_json:
            sys.stdout.write(json.dumps(report.to_json()) + "\n")
        else:
            from controller.report.view import render_status

            render_status(_stdout(), report, inventory_arg=_inventory_arg(inventory))
        code = _exit_for(report)
    raise typer.Exit(code)


@app.command()
def plan(
    hosts: HostsOpt = "all",
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    accept_new: AcceptNewOpt = False,
    repo: RepoOpt = None,
) -> None:
    """What a deploy would change on every host, changing nothing (exit 1: something)."""
    with _frozen_imports():
        from controller import fanout
        from controller.plan import report as preview

    with _boundary():
        selected = _select(inventory, hosts)
        options = _options(concurrency, 0.0, connect_timeout, accept_new, False, handshakes)
        push_repo = repo if repo is not None else _inventory_path(inventory).resolve().parent
        options = replace(options, push_repo=str(push_repo))
        report = asyncio.run(fanout.plan(selected, options))
        if as_json:
            sys.stdout.write(json.dumps(preview.plan_json(report)) + "\n")
        else:
            from controller.plan.view import render_plan

            render_plan(_stdout(), report)
        changes = preview.anything_changes(report)
        code = ExitStatus.NOT_COMPLETED if changes else ExitStatus.OK
    raise typer.Exit(code)


@app.command()
def report(
    run_id: Annotated[str | None, typer.Argument(help="A recorded run [default: latest].")] = None,
    as_json: JsonOpt = False,
    inventory: InventoryOpt = None,
) -> None:
    """Show a recorded run's fleet report again (table, or --json)."""
    with _boundary():
        store = RunStore(state_dir())
        recorded = store.load(run_id)
        if as_json:
            sys.stdout.write(json.dumps(recorded.to_json()) + "\n")
        else:
            from controller.report.view import render_report

            render_report(
                _stdout(),
                recorded,
                # The record's own `-i` names the inventory its hosts came from.
                inventory_arg=recorded.inventory_arg or _inventory_arg(inventory),
                record_dir=store.run_dir(recorded.run_id),
            )
        code = _exit_for(recorded)
    raise typer.Exit(code)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"fleet {version('fleet')}\n")
        raise typer.Exit(ExitStatus.OK)


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Deploy Docker Compose services to a homelab fleet over SSH, resumably."""


@app.command()
def check(
    hosts: HostsOpt = "all",
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    accept_new: AcceptNewOpt = False,
) -> None:
    """Can every host be deployed to? ssh, python3, root, disk, docker, compose, git."""
    with _frozen_imports():
        from controller import fanout
        from controller.check.cache import CheckCache

    with _boundary():
        selected = _select(inventory, hosts)
        options = _options(concurrency, 0.0, connect_timeout, accept_new, False, handshakes)
        found = asyncio.run(
            fanout.check(
                selected,
                options,
                inventory_arg=_inventory_arg(inventory),
                cache=CheckCache.in_state_dir(state_dir()),
            )
        )
        if as_json:
            sys.stdout.write(json.dumps(found.to_json()) + "\n")
        else:
            from controller.check.view import render_check

            render_check(_stdout(), found)
        code = ExitStatus.OK if found.ok else ExitStatus.NOT_COMPLETED
    raise typer.Exit(code)


@app.command()
def logs(
    host: Annotated[
        str, typer.Argument(help="The host (one name).", autocompletion=complete_hosts)
    ],
    service: Annotated[
        str | None,
        typer.Argument(help="A service: its container logs [default: the host's last run log]."),
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
    with _frozen_imports():
        from controller import logs as hostlogs

    with _boundary():
        request = hostlogs.make_request(service, tail, since, follow)
        (selected,) = _select_one(inventory, host)
        options = _options(1, 0.0, connect_timeout, accept_new, False)
        out = sys.stdout.buffer

        def write(data: bytes) -> None:
            out.write(data)
            out.flush()

        def say(line: str) -> None:
            _error(f"fleet: {line}")

        try:
            code = asyncio.run(
                hostlogs.show_logs(selected, options, request, write, say, RunStore(state_dir()))
            )
        except KeyboardInterrupt:
            code = ExitStatus.OK  # --follow ends here; the host stops its side by itself
    raise typer.Exit(code)


def _select_one(inventory: Path | None, name: str) -> list[Host]:
    selected = _select(inventory, name)
    if len(selected) != 1:
        raise FleetError(f"{name!r} selects {len(selected)} hosts; logs takes one host")
    return selected


def main() -> None:
    """Console-script entry point (`fleet`)."""
    gc.freeze()  # what the imports made lives until exit: the collector need not walk it
    app()


if __name__ == "__main__":
    main()
