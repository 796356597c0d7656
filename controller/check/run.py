"""`fleet check` on one host: connect as a deploy does, run the probe once, judge it;
and the compose cache's update from what the probe said (the fan-out is controller/fanout)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from controller.check.cache import CheckCache, ComposeSeen
from controller.check.judge import CheckItem, judge, ssh_fix
from controller.check.probe import (
    PROBE_TIMEOUT_S,
    Answer,
    asks_the_plugin,
    new_marker,
    parse_probe,
    probe_script,
)
from controller.report.model import HostStatus
from controller.session.host import HostSession, Runtime
from inventory import Host


@dataclass
class HostCheck:
    """One host's answers; `status` is ok, failed or unreachable."""

    name: str
    status: str = "ok"
    checks: dict[str, CheckItem] = field(default_factory=dict)
    error: str | None = None
    # What the probe said, for the compose cache (not in --json); None: it said nothing.
    answers: dict[str, Answer] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {k: v.to_json() for k, v in self.checks.items()},
            "error": self.error,
        }


@dataclass
class CheckReport:
    """Every host's check, in inventory order."""

    hosts: dict[str, HostCheck]

    @property
    def ok(self) -> bool:
        return all(h.status == "ok" for h in self.hosts.values())

    def to_json(self) -> dict[str, Any]:
        return {"hosts": {name: h.to_json() for name, h in self.hosts.items()}}


def update_cache(cache: CheckCache, host: Host, out: HostCheck, now: float) -> None:
    """Remember the plugin's answer when an ELF binary gave it, forget it when the probe
    found none or it failed; a probe that said nothing (unreachable, cut) changes nothing."""
    answers = out.answers
    if answers is None:
        return
    compose, plugin = answers.get("compose"), answers.get("plugin")
    item = out.checks.get("compose")
    if compose is not None and compose.code == "cached" and item is not None and item.ok:
        return
    if (
        asks_the_plugin(host)
        and compose is not None
        and compose.code == "0"
        and compose.text
        and plugin is not None
        and plugin.code == "elf"
        and plugin.lines == (plugin.text,)  # one line, as the probe will compare it
    ):
        cache.remember(host, plugin.text, compose.text, now)
    else:
        cache.forget(host)


async def check_host(
    host: Host,
    runtime: Runtime,
    inventory_arg: str | None = None,
    known: ComposeSeen | None = None,
) -> HostCheck:
    """Connect, run the probe once, judge its answers."""
    out = HostCheck(host.name)
    session = HostSession(host, runtime)
    marker = new_marker()
    script = probe_script(host, marker, known)

    async def probe() -> None:
        try:
            res = await session.retrying(
                lambda: asyncio.wait_for(session.channel.sh(script), PROBE_TIMEOUT_S)
            )
        except TimeoutError:
            out.error = f"the probe did not finish within {PROBE_TIMEOUT_S:g} s"
            return
        answers = parse_probe(res.stdout.decode(errors="replace"), marker)
        if answers is None:
            stderr = res.stderr.decode(errors="replace").strip().splitlines()
            out.error = f"the probe did not finish (exit {res.exit_status}): " + (
                stderr[-1] if stderr else "no message"
            )
            return
        out.answers = answers
        out.checks.update(judge(host, answers, known))

    result = await session.guarded(probe)
    if result.status is HostStatus.UNREACHABLE:
        out.status = "unreachable"
        out.error = result.error
        fix = ssh_fix(result.problem, host, inventory_arg)
        out.checks["ssh"] = CheckItem(False, result.error or "unreachable", fix, "unreachable")
        return out
    if result.status is not HostStatus.RUNNING:  # the guard ended it: the link was lost
        out.error = f"link lost during the check: {result.error}"
    seen = "local" if host.connection == "local" else "connected, host key trusted"
    out.checks = {"ssh": CheckItem(True, seen, short="ok"), **out.checks}
    failed = [name for name, item in out.checks.items() if not item.ok]
    if out.error is not None or failed:
        out.status = "failed"
        out.error = out.error or "; ".join(f"{n}: {out.checks[n].detail}" for n in failed)
    return out


def crashed(host: Host, exc: BaseException) -> HostCheck:
    """A host whose check raised: data in the report, not a crash of the check."""
    return HostCheck(host.name, "failed", error=f"internal error: {type(exc).__name__}: {exc}")


def record(cache: CheckCache | None, hosts: list[Host], report: CheckReport, now: float) -> None:
    """Update and save the compose cache from every host's answers."""
    if cache is None:
        return
    for host in hosts:
        update_cache(cache, host, report.hosts[host.name], now)
    cache.save()
