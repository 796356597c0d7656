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

from controller.errors import one_line
from controller.fanout.rollout import Rollout
from controller.options import EngineOptions, RolloutOptions
from controller.report.model import FleetReport, HostResult, HostStatus, Problem
from controller.session.host import (
    HostRun,
    OnUpdate,
    Recorder,
    Runner,
    RunSettings,
    Runtime,
    new_result,
)
from controller.transport.connector import ConnectorFactory, ConnectorFactoryImpl
from inventory import Host


def new_run_id() -> str:
    """`<UTC YYYYmmddTHHMMSSZ>-<6 hex>` (internals.md). The hex is the microsecond (5
    digits) and one random digit: ids sort in the order runs began, within a second too
    (a resume reads the newest run of its hosts), and two runs never share one."""
    now = time.time()
    second = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    micros = min(int((now % 1) * 1_000_000), 0xFFFFF)
    return f"{second}-{micros:05x}{secrets.randbelow(16):x}"


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


def session_setup(
    options: EngineOptions,
    run_id: str,
    runner: Runner | None = None,
    connectors: ConnectorFactory | None = None,
    recorder: Recorder | None = None,
) -> tuple[Runtime, RunSettings]:
    """What every host session of one command shares (also `fleet check`'s)."""
    runtime = Runtime(
        runner=runner,
        connectors=connectors or ConnectorFactoryImpl(options.connect),
        handshakes=asyncio.Semaphore(options.handshakes),
        recorder=recorder,
    )
    settings = RunSettings(
        run_id=run_id,
        resume=options.resume,
        reconnect_timeout=options.reconnect_timeout,
        connect_timeout=options.connect.connect_timeout,
        timeouts=dict(options.timeouts),
        rollback=options.rollback,
        rollback_to=options.rollback_to,
        push_repo=options.push_repo,
        pull=options.pull,
    )
    return runtime, settings


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
    runtime, settings = session_setup(options, run_id, runner, connectors, recorder)
    if on_update is not None:
        runtime.on_update = on_update
    # Hosts a continued rollout never started get a fresh run, not --resume.
    fresh_settings = replace(settings, resume=False)

    async def one(host: Host) -> HostResult:
        use = fresh_settings if host.name in options.fresh else settings
        if action == "plan":
            from controller.plan.run import PreviewRun

            return await PreviewRun(host, use, runtime).plan()
        hostrun = HostRun(host, use, runtime)
        return await (hostrun.deploy() if action == "deploy" else hostrun.status())

    rollout = Rollout(hosts, options.rollout, options.concurrency, one, _crashed, on_update)
    results = await rollout.run()
    fresh = [h.name for h in hosts if not options.resume or h.name in options.fresh]
    return FleetReport(run_id=run_id, hosts=results, command=action, rollout=rollout.summary(fresh))


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
        replace(options, resume=False, rollout=RolloutOptions(), fresh=frozenset()),
        run_id or new_run_id(),
        "status",
        runner=None,
        connectors=connectors,
        on_update=on_update,
        recorder=None,
    )


async def plan(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    connectors: ConnectorFactory | None = None,
    on_update: OnUpdate | None = None,
) -> FleetReport:
    """What a deploy would change on every host, changing nothing (controller/preview.py).
    The runner is uploaded where missing: it is fleet's own cache, not the host's state."""
    return await _fan_out(
        hosts,
        replace(options, resume=False),
        new_run_id(),
        "plan",
        runner=load_runner(),
        connectors=connectors,
        on_update=on_update,
        recorder=None,
    )
