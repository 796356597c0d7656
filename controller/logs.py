"""`fleet logs HOST [SERVICE]`: a service's container logs, or the host's last run log.

With SERVICE, the runner's `logs` command runs compose's own logs on the host and masks
the service's .env values there (the controller never reads a .env). Without SERVICE,
the host's last run log (already masked by the run), or, when the host cannot be
reached, the copy this controller recorded, saying so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controller.errors import ExitStatus, FleetError
from controller.options import EngineOptions
from controller.report.model import HostStatus
from controller.report.store import RunStore, host_file
from controller.session.channel import Channel, load_runner
from controller.session.host import HostSession, runtime_for
from controller.transport.shell import ShellLine, argv_line, status_command
from inventory import Host
from remote.status import parse_snapshot, status_from_snapshot

Write = Callable[[bytes], None]
Say = Callable[[str], None]


@dataclass(frozen=True)
class LogsRequest:
    """What the operator asked for."""

    service: str | None = None
    tail: str = "200"  # lines, or "all"
    since: str | None = None
    follow: bool = False


def check_tail(tail: str) -> str:
    """A line count or `all`; anything else is a usage error (exit 2)."""
    if tail != "all" and not (tail.isascii() and tail.isdigit()):
        raise FleetError(f"--tail: {tail!r} is not a number of lines or 'all'")
    return tail


def make_request(service: str | None, tail: str, since: str | None, follow: bool) -> LogsRequest:
    """The operator's options, checked before anything is contacted (errors exit 2)."""
    if since is not None and service is None:
        raise FleetError("--since applies to a service's container logs: name the service")
    return LogsRequest(service, check_tail(tail), since, follow)


def runner_args(host: Host, req: LogsRequest) -> list[str]:
    """The runner's `logs` command line for this host and service."""
    assert req.service is not None
    args = ["logs", "--root", host.root, "--service", req.service, "--repo", host.repo]
    args += ["--compose", json.dumps(list(host.compose_command))]
    if req.tail != "all":
        args += ["--tail", req.tail]
    if req.since is not None:
        args += ["--since", req.since]
    if req.follow:
        args.append("--follow")
    if host.become is not None:
        args += ["--become", host.become]
    return args


def tail_command(path: str, req: LogsRequest) -> ShellLine:
    """`tail` of the run log, quoted once here."""
    lines = "+1" if req.tail == "all" else req.tail
    follow = ["-f"] if req.follow else []
    return argv_line(["tail", *follow, "-n", lines, "--", path], exec_=True)


def log_path(host: Host, snapshot_text: str) -> str | None:
    """The running run's log, else the last run's, from the status snapshot."""
    state = status_from_snapshot(host.root, parse_snapshot(snapshot_text))
    for key in ("running", "last_run"):
        run = state.get(key)
        if isinstance(run, dict) and run.get("log"):
            return str(run["log"])
    return None


def recorded_log(store: RunStore, name: str) -> tuple[str, Path] | None:
    """The newest run recorded on this controller that kept a log of this host."""
    for run_id in reversed(store.run_ids()):
        path = host_file(store.run_dir(run_id), name, ".log")
        if path.is_file() and path.stat().st_size > 0:
            return run_id, path
    return None


def tail_lines(data: bytes, tail: str) -> bytes:
    if tail == "all":
        return data
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-int(tail) :]) if int(tail) else b""


async def show_logs(
    host: Host, options: EngineOptions, req: LogsRequest, write: Write, say: Say, store: RunStore
) -> ExitStatus:
    """Stream what was asked to write(); notes for the operator go to say()."""
    runner = load_runner() if req.service is not None else None
    session = HostSession(host, runtime_for(options, runner=runner))
    outcome: list[ExitStatus] = [ExitStatus.OK]

    async def body() -> None:
        channel = session.channel
        if req.service is not None:
            res = await channel.runner(runner_args(host, req), on_stdout=write)
        else:
            path = await session.retrying(lambda: _log_path(channel, host))
            if path is None:
                say(f"{host.name} has no run log yet (never deployed by fleet)")
                outcome[0] = ExitStatus.NOT_COMPLETED
                return
            say(f"{host.name}: {path}")
            res = await channel.sh(tail_command(path, req), on_stdout=write)
        if res.exit_status != 0:
            detail = res.stderr.decode(errors="replace").strip().splitlines()
            say(f"{host.name}: exit {res.exit_status}: {detail[-1] if detail else 'no message'}")
            outcome[0] = ExitStatus.NOT_COMPLETED

    result = await session.guarded(body)
    if result.status is HostStatus.UNREACHABLE:
        return _from_the_record(host, req, write, say, store, result.error)
    if result.status is not HostStatus.RUNNING:  # the guard ended it: lost, or failed
        say(f"{host.name}: {result.error}")
        return ExitStatus.NOT_COMPLETED
    return outcome[0]


async def _log_path(channel: Channel, host: Host) -> str | None:
    snap = await channel.sh(status_command(host.root), end=True)
    return log_path(host, snap.stdout.decode(errors="replace"))


def _from_the_record(
    host: Host, req: LogsRequest, write: Write, say: Say, store: RunStore, error: str | None
) -> ExitStatus:
    """The host cannot be reached: its run log as this controller recorded it, if any."""
    say(f"{host.name} is unreachable: {error}")
    if req.service is not None:
        return ExitStatus.NOT_COMPLETED
    found = recorded_log(store, host.name)
    if found is None:
        say(f"no copy of {host.name}'s run log is recorded on this controller either")
        return ExitStatus.NOT_COMPLETED
    run_id, path = found
    say(f"showing the copy recorded on this controller: run {run_id} ({path})")
    write(tail_lines(path.read_bytes(), req.tail))
    return ExitStatus.NOT_COMPLETED
