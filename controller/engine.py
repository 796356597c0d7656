"""The fan-out engine: every selected host concurrently, one HostResult each.

No Typer, no Rich: the CLI drives this, views render what it returns.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace

from inventory import Host

from .connectors import ConnectorFactory, ConnectorFactoryImpl
from .errors import one_line
from .hostrun import HostRun, OnUpdate, Recorder, Runner, RunSettings, Runtime, new_result
from .model import FleetReport, HostResult, HostStatus, Problem
from .options import EngineOptions


def new_run_id() -> str:
    """`<UTC YYYYmmddTHHMMSSZ>-<6 hex>` (internals.md)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


@functools.cache
def load_runner() -> Runner:
    """The runner archive, built once per process; its hash decides every upload."""
    from remote.build import build_runner

    data, sha = build_runner()
    return Runner(data=data, sha256=sha)


def _crashed(host: Host, exc: BaseException) -> HostResult:
    """A host whose session raised: data in the report, not a crash of the fleet."""
    result = new_result(host)
    result.status = HostStatus.FAILED
    result.problem = Problem.INTERNAL
    result.error = one_line(f"internal error: {type(exc).__name__}: {exc}")
    return result


async def _fan_out(
    hosts: Sequence[Host],
    options: EngineOptions,
    run_id: str,
    action: str,
    *,
    runner: Runner | None,
    connectors: ConnectorFactory | None,
    on_update: OnUpdate | None,
    recorder: Recorder | None,
) -> FleetReport:
    runtime = Runtime(
        runner=runner,
        connectors=connectors or ConnectorFactoryImpl(options.connect),
        handshakes=asyncio.Semaphore(options.handshakes),
        recorder=recorder,
    )
    if on_update is not None:
        runtime.on_update = on_update
    settings = RunSettings(
        run_id=run_id,
        resume=options.resume,
        reconnect_timeout=options.reconnect_timeout,
        connect_timeout=options.connect.connect_timeout,
        timeouts=dict(options.timeouts),
        pull=options.pull,
    )
    running = asyncio.Semaphore(max(1, options.concurrency))

    async def one(host: Host) -> HostResult:
        async with running:
            hostrun = HostRun(host, settings, runtime)
            return await (hostrun.deploy() if action == "deploy" else hostrun.status())

    outcomes = await asyncio.gather(*(one(h) for h in hosts), return_exceptions=True)
    results: dict[str, HostResult] = {}
    for host, outcome in zip(hosts, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if isinstance(outcome, KeyboardInterrupt | SystemExit):
                raise outcome
            outcome = _crashed(host, outcome)
        results[host.name] = outcome
    return FleetReport(run_id=run_id, hosts=results, command=action)


async def deploy(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    run_id: str | None = None,
    runner: Runner | None = None,
    connectors: ConnectorFactory | None = None,
    on_update: OnUpdate | None = None,
    recorder: Recorder | None = None,
) -> FleetReport:
    """Deploy (or with options.resume, resume) every host; one result per host."""
    return await _fan_out(
        hosts,
        options,
        run_id or new_run_id(),
        "deploy",
        runner=runner or load_runner(),
        connectors=connectors,
        on_update=on_update,
        recorder=recorder,
    )


async def status(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    run_id: str | None = None,
    connectors: ConnectorFactory | None = None,
    on_update: OnUpdate | None = None,
) -> FleetReport:
    """Read every host's state from the host itself, concurrently (with plain sh: the
    runner archive is neither built nor uploaded)."""
    return await _fan_out(
        hosts,
        replace(options, resume=False),
        run_id or new_run_id(),
        "status",
        runner=None,
        connectors=connectors,
        on_update=on_update,
        recorder=None,
    )
