"""The fan-out: every selected host concurrently (in rollout waves), one result each.

deploy, resume, rollback, status, plan and check all go through here; each host's work
is its feature's (controller/deploy, status.py, plan/, check/) on its own session. No
Typer, no Rich: the CLI drives this, views render what it returns.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from controller.check.cache import CheckCache
from controller.check.probe import asks_the_plugin
from controller.check.run import CheckReport, HostCheck, check_host, crashed, record
from controller.deploy.run import DeployRun
from controller.errors import one_line
from controller.fanout.rollout import Rollout
from controller.fanout.untildone import UntilDone, interrupts_end, reached
from controller.job.spec import JobSettings
from controller.options import EngineOptions, RolloutOptions
from controller.outdated import HostOutdated, check_outdated
from controller.plan.run import PlanRun
from controller.report.model import FleetReport, HostResult, HostStatus
from controller.report.problems import Problem
from controller.session.channel import Runner, load_runner
from controller.session.host import OnUpdate, Recorder, Runtime, runtime_for
from controller.session.link import Timing
from controller.session.outcome import new_result
from controller.status import StatusRead
from controller.transport.connector import ConnectorFactory
from inventory import Host

__all__ = ["check", "deploy", "load_runner", "new_run_id", "outdated", "plan", "status"]

PerHost = Callable[[Host, Runtime, JobSettings], Awaitable[HostResult]]


def new_run_id() -> str:
    """`<UTC YYYYmmddTHHMMSSZ>-<6 hex>` (internals.md). The hex is the microsecond (5
    digits) and one random digit: ids sort in the order runs began, within a second too
    (a resume reads the newest run of its hosts), and two runs never share one."""
    now = time.time()
    second = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    micros = min(int((now % 1) * 1_000_000), 0xFFFFF)
    return f"{second}-{micros:05x}{secrets.randbelow(16):x}"


def _crashed(host: Host, exc: BaseException) -> HostResult:
    """A host whose session raised: data in the report, not a crash of the fleet."""
    result = new_result(host)
    result.status = HostStatus.FAILED
    result.problem = Problem.INTERNAL
    result.error = one_line(f"internal error: {type(exc).__name__}: {exc}")
    return result


async def _deploy_one(host: Host, runtime: Runtime, settings: JobSettings) -> HostResult:
    return await DeployRun(host, settings, runtime).run()


async def _status_one(host: Host, runtime: Runtime, settings: JobSettings) -> HostResult:
    return await StatusRead(host, runtime).run()


async def _plan_one(host: Host, runtime: Runtime, settings: JobSettings) -> HostResult:
    return await PlanRun(host, settings, runtime).run()


async def _fan_out(
    hosts: Sequence[Host],
    options: EngineOptions,
    run_id: str,
    action: str,
    one: PerHost,
    runtime: Runtime,
    on_update: OnUpdate | None,
) -> FleetReport:
    if on_update is not None:
        runtime.on_update = on_update
    settings = JobSettings.of(options, run_id)
    # Hosts a continued rollout (or a resume) never started get a fresh run, not --resume.
    fresh_settings = replace(settings, resume=False)
    # A try after one that reached the host continues from its markers (untildone.py).
    again_settings = replace(settings, resume=True)

    async def start(host: Host, previous: HostResult | None) -> HostResult:
        use = fresh_settings if host.name in options.fresh else settings
        return await one(host, runtime, again_settings if reached(previous) else use)

    until = None
    if options.until_done is not None:
        until = UntilDone(options.until_done, runtime.timing, on_update)
        runtime.on_update = until.on_update
    rollout = Rollout(
        hosts, options.rollout, options.concurrency, start, _crashed, on_update, until
    )
    with interrupts_end(until):
        results = await rollout.run()
    fresh = [h.name for h in hosts if not options.resume or h.name in options.fresh]
    summary = rollout.summary(fresh)
    return FleetReport(run_id=run_id, hosts=results, command=action, rollout=summary, fresh=fresh)


async def deploy(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    run_id: str | None = None,
    runner: Runner | None = None,
    connectors: ConnectorFactory | None = None,
    on_update: OnUpdate | None = None,
    recorder: Recorder | None = None,
    timing: Timing | None = None,
) -> FleetReport:
    """Deploy (or with options.resume, resume) every host; one result per host."""
    runtime = runtime_for(options, runner or load_runner(), connectors, recorder, timing)
    run_id = run_id or new_run_id()
    return await _fan_out(hosts, options, run_id, "deploy", _deploy_one, runtime, on_update)


async def status(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    run_id: str | None = None,
    connectors: ConnectorFactory | None = None,
    on_update: OnUpdate | None = None,
    timing: Timing | None = None,
) -> FleetReport:
    """Read every host's state from the host itself, concurrently (with plain sh: the
    runner archive is neither built nor uploaded)."""
    options = replace(options, resume=False, rollout=RolloutOptions(), fresh=frozenset())
    runtime = runtime_for(options, None, connectors, None, timing)
    run_id = run_id or new_run_id()
    return await _fan_out(hosts, options, run_id, "status", _status_one, runtime, on_update)


async def plan(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    connectors: ConnectorFactory | None = None,
    on_update: OnUpdate | None = None,
    timing: Timing | None = None,
) -> FleetReport:
    """What a deploy would change on every host, changing nothing (controller/plan/).
    The runner is uploaded where missing: it is fleet's own cache, not the host's state."""
    options = replace(options, resume=False)
    runtime = runtime_for(options, load_runner(), connectors, None, timing)
    return await _fan_out(hosts, options, new_run_id(), "plan", _plan_one, runtime, on_update)


async def check(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    connectors: ConnectorFactory | None = None,
    inventory_arg: str | None = None,
    cache: CheckCache | None = None,
) -> CheckReport:
    """Check every host concurrently; one HostCheck each, never one exception for all.
    With a cache, a host's compose plugin runs only when its binary changed (saved here)."""
    runtime = runtime_for(options, None, connectors)
    running = asyncio.Semaphore(max(1, options.concurrency))

    async def one(host: Host) -> HostCheck:
        known = cache.known(host) if cache is not None and asks_the_plugin(host) else None
        async with running:
            return await check_host(host, runtime, inventory_arg, known)

    outcomes = await asyncio.gather(*(one(h) for h in hosts), return_exceptions=True)
    results: dict[str, HostCheck] = {}
    for host, found in zip(hosts, outcomes, strict=True):
        if isinstance(found, BaseException):
            if isinstance(found, KeyboardInterrupt | SystemExit):
                raise found
            found = crashed(host, found)
        results[host.name] = found
    report = CheckReport(results)
    record(cache, list(hosts), report, time.time())
    return report


async def outdated(
    hosts: Sequence[Host],
    options: EngineOptions,
    *,
    runner: Runner | None = None,
    connectors: ConnectorFactory | None = None,
    timing: Timing | None = None,
) -> dict[str, HostOutdated]:
    """Every host's images against their registries, concurrently (controller/outdated.py);
    one answer per host in selection order, an unreachable host one of them."""
    runtime = runtime_for(options, runner or load_runner(), connectors, None, timing)
    settings = JobSettings.of(replace(options, resume=False), new_run_id())
    running = asyncio.Semaphore(max(1, options.concurrency))

    async def one(host: Host) -> HostOutdated:
        async with running:
            return await check_outdated(host, runtime, settings)

    outcomes = await asyncio.gather(*(one(h) for h in hosts), return_exceptions=True)
    found: dict[str, HostOutdated] = {}
    for host, answer in zip(hosts, outcomes, strict=True):
        if isinstance(answer, BaseException):
            if isinstance(answer, KeyboardInterrupt | SystemExit):
                raise answer
            answer = HostOutdated(host.name, error=_crashed(host, answer).error)
        found[host.name] = answer
    return found
