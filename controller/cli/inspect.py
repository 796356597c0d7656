"""`fleet status`, `fleet plan`, `fleet check`, `fleet report`: where hosts stand,
what a deploy would change, whether they can be deployed to, a recorded run again."""

# No `from __future__ import annotations` here: Typer would compile and eval every
# parameter's annotation string at each start (~1 ms); real annotations cost nothing.
import asyncio
import json
import sys
from dataclasses import replace
from typing import Annotated, Any

import typer

from controller.cli.after import Afterwards, notify_when_needed
from controller.cli.app import app
from controller.cli.boundary import boundary, frozen_imports, stdout_console
from controller.cli.common import Knobs, exit_for, inventory_arg, inventory_path, load, select
from controller.cli.params import (
    AcceptNewOpt,
    AgeIdentityOpt,
    ConcurrencyOpt,
    ConnectTimeoutOpt,
    HandshakesOpt,
    HostsOpt,
    HtmlOpt,
    InventoryOpt,
    JsonOpt,
    NoNotifyOpt,
    NotifyOpt,
    PullOpt,
    RepoOpt,
)
from controller.errors import ExitStatus
from controller.options import DEFAULT_CONCURRENCY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKES
from controller.report.pending import mark_pending, owed_runs
from controller.report.store import RunStore, state_dir
from controller.report.words import plural
from inventory import check_push_repo


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
    with frozen_imports():
        from controller import fanout

    with boundary(as_json):
        selected = select(inventory, hosts)
        options = Knobs(
            connect_timeout, accept_new, concurrency=concurrency, handshakes=handshakes
        ).options()
        report = asyncio.run(fanout.status(selected, options))
        report.command = "status"
        owed = owed_runs(RunStore(state_dir()).recent(), [h.name for h in selected])
        mark_pending(report.hosts.values(), owed)
        if as_json:
            # A read is not a run: no run id that `fleet report` could be asked for.
            sys.stdout.write(json.dumps({**report.to_json(), "run_id": None}) + "\n")
        else:
            from controller.report.view import render_status

            render_status(stdout_console(), report, inventory_arg=inventory_arg(inventory))
        code = exit_for(report)
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
    pull: PullOpt = None,
    age_identity: AgeIdentityOpt = None,
) -> None:
    """What a deploy would change on every host, changing nothing (exit 1: something)."""
    with frozen_imports():
        from controller import fanout
        from controller.plan import report as preview

    with boundary(as_json):
        inv = load(inventory)
        selected = inv.select(hosts)
        knobs = Knobs(connect_timeout, accept_new, concurrency, handshakes, pull=pull)
        options = knobs.options()
        push_repo = repo if repo is not None else inventory_path(inventory).resolve().parent
        check_push_repo(inv, selected, push_repo)
        identity = None if age_identity is None else str(age_identity)
        options = replace(options, push_repo=str(push_repo), age_identity=identity)
        report = asyncio.run(fanout.plan(selected, options))
        if as_json:
            sys.stdout.write(json.dumps(preview.plan_json(report)) + "\n")
        else:
            from controller.plan.view import render_plan

            render_plan(stdout_console(), report)
        _say_unplanned(preview.plan_json(report))
        changes = preview.anything_changes(report)
        code = ExitStatus.NOT_COMPLETED if changes else ExitStatus.OK
    raise typer.Exit(code)


def _say_unplanned(found: dict[str, Any]) -> None:
    """Exit 1 means "would change" or "could not be planned" (the codes are pinned): a host
    whose drift is unknown is also said on stderr, so a CI log tells the two apart."""
    unplanned = [name for name, entry in found["hosts"].items() if entry["status"] != "planned"]
    if unplanned:
        sys.stderr.write(
            f"fleet: could not plan {plural(len(unplanned), 'host')} (unreachable; "
            f"what would change there is unknown): {', '.join(unplanned)}\n"
        )


@app.command()
def report(
    run_id: Annotated[str | None, typer.Argument(help="A recorded run (default: latest).")] = None,
    as_json: JsonOpt = False,
    inventory: InventoryOpt = None,
    html: HtmlOpt = None,
) -> None:
    """Show a recorded run's fleet report again (table, --json, or --html FILE: a page)."""
    with boundary(as_json):
        store = RunStore(state_dir())
        recorded = store.load(run_id)
        if html is not None:
            from controller.htmlreport import write_run_html

            write_run_html(store.run_dir(recorded.run_id), html)
            sys.stderr.write(f"fleet: the run as a page: {html}\n")
        if as_json:
            sys.stdout.write(json.dumps(recorded.to_json()) + "\n")
        else:
            from controller.report.view import render_report

            render_report(
                stdout_console(),
                recorded,
                # The record's own `-i` names the inventory its hosts came from.
                inventory_arg=recorded.inventory_arg or inventory_arg(inventory),
                record_dir=store.run_dir(recorded.run_id),
            )
        code = exit_for(recorded)
    raise typer.Exit(code)


@app.command()
def check(
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
    """Can every host be deployed to? ssh, python3, root, disk, docker, compose, git.
    With --notify (or the inventory's notify:), a message only when a host fails."""
    with frozen_imports():
        from controller import fanout
        from controller.check.cache import CheckCache

    with boundary(as_json):
        inv = load(inventory)
        selected = inv.select(hosts)
        options = Knobs(
            connect_timeout, accept_new, concurrency=concurrency, handshakes=handshakes
        ).options()
        found = asyncio.run(
            fanout.check(
                selected,
                options,
                inventory_arg=inventory_arg(inventory),
                cache=CheckCache.in_state_dir(state_dir()),
            )
        )
        if as_json:
            sys.stdout.write(json.dumps(found.to_json()) + "\n")
        else:
            from controller.check.view import render_check

            render_check(stdout_console(), found)
        notify_when_needed(
            found.to_json(), "check", inv.notify, Afterwards.of(None, notify, no_notify)
        )
        code = ExitStatus.OK if found.ok else ExitStatus.NOT_COMPLETED
    raise typer.Exit(code)
