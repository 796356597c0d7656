"""`fleet deploy`, `fleet resume`, `fleet rollback`: run every selected host under the
live view, record the run, print the report; `fleet releases HOST`: what rollback can
go back to."""

# No `from __future__ import annotations` here: Typer would compile and eval every
# parameter's annotation string at each start (~1 ms); real annotations cost nothing.
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from controller.cli.after import Afterwards, finish
from controller.cli.app import app
from controller.cli.boundary import boundary, frozen_imports, stdout_console
from controller.cli.common import (
    Knobs,
    exit_for,
    inventory_arg,
    inventory_path,
    load,
    one_selection,
    select_one,
)
from controller.cli.completion import complete_hosts
from controller.cli.params import (
    AcceptNewOpt,
    AgeIdentityOpt,
    BatchOpt,
    CanaryOpt,
    ConcurrencyOpt,
    ConnectTimeoutOpt,
    HandshakesOpt,
    HostsOpt,
    HtmlOpt,
    InventoryOpt,
    JsonOpt,
    MaxFailOpt,
    NamedHostsOpt,
    NoNotifyOpt,
    NotifyOpt,
    OnFailureOpt,
    PullOpt,
    ReconnectOpt,
    RepoOpt,
    UntilDoneOpt,
    VerifyTimeoutOpt,
)
from controller.errors import ExitStatus
from controller.options import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HANDSHAKES,
    DEFAULT_RECONNECT_TIMEOUT,
    EngineOptions,
    RolloutOptions,
)
from controller.report.model import FleetReport
from controller.report.store import RunStore, state_dir
from controller.report.waves import continuation, wave_map
from inventory import Host, check_push_repo

if TYPE_CHECKING:
    from rich.console import Console

    from controller.session.host import OnUpdate


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


def _deploy(
    hosts: list[Host],
    options: EngineOptions,
    as_json: bool,
    inventory_arg: str | None,
    after: Afterwards,
) -> ExitStatus:
    with frozen_imports():
        from controller import fanout

    console = None if as_json else stdout_console()
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
    finish(report, recorder, after, quiet=as_json)
    return exit_for(report)


def pending_selection(
    inventory: Path | None, named: list[str] | None, hosts: str | None, as_json: bool
) -> str:
    """`resume --pending`: the hosts (of those named, default all) whose last recorded run
    did not complete. None: say so and exit 0, no host contacted (a timer's usual hour)."""
    from controller.report.pending import owed_runs

    expr = one_selection(named, hosts, "resume") if named or hosts is not None else "all"
    names = [h.name for h in load(inventory).select(expr)]
    owed = owed_runs(RunStore(state_dir()).recent(), names)
    if owed:
        return ",".join(owed)
    if as_json:
        sys.stdout.write(json.dumps({"run_id": None, "status": "completed", "hosts": {}}) + "\n")
    else:
        stdout_console().out("nothing pending: every selected host completed its last run")
    raise typer.Exit(ExitStatus.OK)


def _deploy_command(
    inventory: Path | None,
    hosts: str,
    options: EngineOptions,
    as_json: bool,
    repo: Path | None,
    outputs: Afterwards,
) -> None:
    """deploy, resume and rollback: select, check what the controller itself must hold
    (a push host's services in the repo), run, report, exit with the pinned code."""
    with boundary(as_json):
        inv = load(inventory)
        selected = inv.select(hosts)
        push_repo = repo if repo is not None else inventory_path(inventory).resolve().parent
        if not options.rollback:  # a rollback is offline by design: it pushes nothing
            check_push_repo(inv, selected, push_repo)
        options = replace(options, push_repo=str(push_repo))
        after = replace(outputs, inventory_urls=inv.notify)
        code = _deploy(selected, options, as_json, inventory_arg(inventory), after)
    raise typer.Exit(code)


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


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
    age_identity: AgeIdentityOpt = None,
    batch: BatchOpt = None,
    canary: CanaryOpt = None,
    max_fail: MaxFailOpt = None,
    pull: PullOpt = None,
    on_failure: OnFailureOpt = None,
    html: HtmlOpt = None,
    notify: NotifyOpt = None,
    no_notify: NoNotifyOpt = False,
    until_done: UntilDoneOpt = None,
) -> None:
    """Deploy every selected host concurrently: one live view, one summary table."""
    knobs = Knobs(
        connect_timeout,
        accept_new,
        concurrency,
        handshakes,
        reconnect_timeout,
        verify_timeout,
        pull,
    )
    options = knobs.options(
        resume=resume,
        age_identity=_text(age_identity),
        on_failure=on_failure,
        until_done=until_done,
    )
    rollout = RolloutOptions(batch=batch, canary=canary, max_fail=max_fail)
    outputs = Afterwards.of(html, notify, no_notify)
    _deploy_command(inventory, hosts, replace(options, rollout=rollout), as_json, repo, outputs)


@app.command()
def resume(
    named: Annotated[
        list[str] | None,
        typer.Argument(
            help="Hosts to resume (names, @group, globs), as --hosts.",
            metavar="HOSTS",
            autocompletion=complete_hosts,
            show_default=False,
        ),
    ] = None,
    hosts: NamedHostsOpt = None,
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    reconnect_timeout: ReconnectOpt = DEFAULT_RECONNECT_TIMEOUT,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    verify_timeout: VerifyTimeoutOpt = None,
    accept_new: AcceptNewOpt = False,
    repo: RepoOpt = None,
    age_identity: AgeIdentityOpt = None,
    batch: BatchOpt = None,
    canary: CanaryOpt = None,
    max_fail: MaxFailOpt = None,
    pull: PullOpt = None,
    on_failure: OnFailureOpt = None,
    html: HtmlOpt = None,
    notify: NotifyOpt = None,
    no_notify: NoNotifyOpt = False,
    until_done: UntilDoneOpt = None,
    pending: Annotated[
        bool,
        typer.Option(
            "--pending",
            help="Every host whose last recorded run did not complete (within the hosts "
            "named, if any); none: exit 0 having contacted no host.",
        ),
    ] = False,
) -> None:
    """Re-attach to a run still going on each host, or continue it from its markers;
    a stopped rollout goes on in waves with its recorded settings unless others are given."""
    knobs = Knobs(
        connect_timeout,
        accept_new,
        concurrency,
        handshakes,
        reconnect_timeout,
        verify_timeout,
        pull,
    )
    options = knobs.options(
        resume=True,
        age_identity=_text(age_identity),
        on_failure=on_failure,
        until_done=until_done,
    )
    rollout = RolloutOptions(batch=batch, canary=canary, max_fail=max_fail)
    outputs = Afterwards.of(html, notify, no_notify)
    with boundary(as_json):
        if pending:
            selection = pending_selection(inventory, named, hosts, as_json)
        else:
            selection = one_selection(named, hosts, "resume")
    _deploy_command(inventory, selection, replace(options, rollout=rollout), as_json, repo, outputs)


@app.command()
def rollback(
    named: Annotated[
        list[str] | None,
        typer.Argument(
            help="Hosts to roll back (names, @group, globs), as --hosts.",
            metavar="HOSTS",
            autocompletion=complete_hosts,
            show_default=False,
        ),
    ] = None,
    hosts: NamedHostsOpt = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="The release (run id) to go back to (default: the one before)."),
    ] = None,
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    handshakes: HandshakesOpt = DEFAULT_HANDSHAKES,
    reconnect_timeout: ReconnectOpt = DEFAULT_RECONNECT_TIMEOUT,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    verify_timeout: VerifyTimeoutOpt = None,
    accept_new: AcceptNewOpt = False,
    html: HtmlOpt = None,
    notify: NotifyOpt = None,
    no_notify: NoNotifyOpt = False,
) -> None:
    """Redeploy each host's previous release (or --to RUN_ID), offline, pinned by image ID."""
    knobs = Knobs(
        connect_timeout=connect_timeout,
        accept_new=accept_new,
        concurrency=concurrency,
        handshakes=handshakes,
        reconnect_timeout=reconnect_timeout,
        verify_timeout=verify_timeout,
    )
    options = knobs.options(rollback=True, rollback_to=to)
    outputs = Afterwards.of(html, notify, no_notify)
    with boundary(as_json):
        selection = one_selection(named, hosts, "rollback")
    _deploy_command(inventory, selection, options, as_json, None, outputs)


@app.command()
def releases(
    host: Annotated[str, typer.Argument(help="The host whose releases to list.")],
    inventory: InventoryOpt = None,
    as_json: JsonOpt = False,
    connect_timeout: ConnectTimeoutOpt = DEFAULT_CONNECT_TIMEOUT,
    accept_new: AcceptNewOpt = False,
) -> None:
    """A host's recorded releases, newest first, and which one is current."""
    with frozen_imports():
        from controller import releases as host_releases

    with boundary(as_json):
        selected = select_one(inventory, host, "releases")
        options = Knobs(connect_timeout, accept_new, concurrency=1).options()
        found = host_releases.fetch(selected, options)
        if as_json:
            sys.stdout.write(json.dumps(found.to_json()) + "\n")
        else:
            host_releases.render_releases(stdout_console(), found)
        code = ExitStatus.NOT_COMPLETED if found.error else ExitStatus.OK
    raise typer.Exit(code)
