"""Rich renderers. Every function takes the Console it writes to (tests pass a StringIO one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .events import PROGRESS, Event
from .model import FleetReport, HostResult, HostStatus, Problem
from .store import host_file

_STYLE = {
    HostStatus.COMPLETED: "green",
    HostStatus.FAILED: "red",
    HostStatus.UNREACHABLE: "magenta",
    HostStatus.DISCONNECTED: "yellow",
    HostStatus.RUNNING: "cyan",
    HostStatus.NOT_STARTED: "dim",
}

# Live view refresh: often enough to feel live, rarely enough to cost nothing at N=100.
REFRESH_S = 0.25


def _fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


# --- while the run goes on ----------------------------------------------------------


class PlainView:
    """Non-terminal output: one plain line per event, `HOST stage service event`."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def on_update(self, result: HostResult, event: Event | None) -> None:
        if event is not None:
            parts = [result.name, event.stage or "-", event.service or "-", event.event]
            if event.status and event.event in ("run_failed", "warning"):
                parts.append(event.status)
            shown = ("stage_failed", "service_failed", "warning", PROGRESS)
            if event.message and event.event in shown:
                parts.append(event.message.splitlines()[0])
            self._out(" ".join(parts))
        elif result.note:
            self._out(f"{result.name} - - note {result.note}")
        elif result.status is not HostStatus.RUNNING:
            self._out(f"{result.name} - - {result.status.value}")

    def _out(self, line: str) -> None:
        self.console.out(line, highlight=False)


class LiveView:
    """A terminal live table, one row per host, refreshed a few times a second."""

    def __init__(
        self,
        console: Console,
        hosts: Sequence[tuple[str, int]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console
        self._hosts = list(hosts)
        self._results: dict[str, HostResult] = {}
        self._clock = clock
        self._started = clock()
        self._live: Live | None = None

    def on_update(self, result: HostResult, event: Event | None) -> None:
        self._results[result.name] = result

    def table(self) -> Table:
        now = self._clock()
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("host", "stage", "service", "done", "elapsed", ""):
            table.add_column(column)
        counts = {s: 0 for s in HostStatus}
        for name, total in self._hosts:
            result = self._results.get(name)
            if result is None:
                table.add_row(name, Text("waiting", "dim"), "", f"0/{total}", "", "")
                counts[HostStatus.RUNNING] += 1
                continue
            counts[result.status] += 1
            if result.status is HostStatus.RUNNING:
                stage = Text(result.stage or "connecting", "cyan")
                elapsed = now - self._started
            else:
                stage = Text(result.status.value, _STYLE[result.status])
                elapsed = result.duration_s
            table.add_row(
                name,
                stage,
                result.service or "",
                f"{result.services_done}/{len(result.services)}",
                _fmt_duration(elapsed),
                Text(result.note or "", "dim"),
            )
        table.caption = "  ".join(f"{s.value}: {n}" for s, n in counts.items() if n)
        return table

    def __enter__(self) -> LiveView:
        self._live = Live(self.table(), console=self.console, auto_refresh=False, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    async def tick(self) -> None:
        """Redraw until cancelled (one asyncio task, no thread reading host state)."""
        while self._live is not None:
            self._live.update(self.table(), refresh=True)
            await asyncio.sleep(REFRESH_S)


# --- the fleet report ---------------------------------------------------------------


def next_command(result: HostResult, command: str, inventory_arg: str | None) -> str | None:
    """The exact next thing to run (or fix) for a host that did not complete."""
    if result.status is HostStatus.COMPLETED:
        return None
    inv = f" -i {inventory_arg}" if inventory_arg else ""
    name = result.name
    resume = f"fleet resume{inv} {name}"
    again = resume if command == "resume" else f"fleet deploy{inv} --hosts {name}"
    problem = result.problem
    if result.status is HostStatus.RUNNING:
        return f"a run is still going; follow it with: {resume}"
    if result.status is HostStatus.DISCONNECTED or problem is Problem.RUN_VANISHED:
        return resume
    if problem is Problem.STAGE_FAILED:
        what = result.failed_service or f"the {result.failed_stage} stage"
        return f"fix {what} (see diagnostics), then: {resume}"
    if problem is Problem.REFUSED_LOCKED:
        return f"another run holds the lock; wait for it, or follow it with: {resume}"
    if problem in (Problem.NO_PYTHON, Problem.OLD_PYTHON):
        return f"install python3 >= 3.8 on {name}, then: {again}"
    if problem is Problem.CONN_REFUSED:
        return f"start sshd on {name} (connection refused), then: {again}"
    if problem in (Problem.CONN_TIMEOUT, Problem.CONN_RESET):
        return f"check that {name} is up and its link works, then: {again}"
    if problem is Problem.AUTH_FAILED:
        return f"check user/identity for {name} in the inventory, then: {again}"
    if problem is Problem.HOST_KEY_CHANGED:
        return (
            f"verify {name}'s new host key out of band; if it is legitimate remove the old "
            f"entry with ssh-keygen -R, then: fleet deploy{inv} --hosts {name} --accept-new"
        )
    if problem is Problem.HOST_KEY_UNKNOWN:
        return f"first contact: fleet deploy{inv} --hosts {name} --accept-new"
    if problem is Problem.DNS:
        return f"fix the address of {name} in the inventory, then: {again}"
    if problem is Problem.NEVER_DEPLOYED:
        return f"fleet deploy{inv} --hosts {name}"
    return f"see the host's log, then: {again}"


def _failed_where(result: HostResult) -> str:
    if result.failed_stage is None:
        return ""
    svc = result.failed_service
    return f"{result.failed_stage}/{svc}" if svc else result.failed_stage


def report_table(report: FleetReport) -> Table:
    """host, status, last stage, services done/total, duration, failed, diagnostics."""
    table = Table(title=f"fleet run {report.run_id}", header_style="bold")
    table.add_column("host")
    table.add_column("status")
    table.add_column("last stage")
    table.add_column("services", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("failed at")
    table.add_column("diagnostics", overflow="fold")
    for result in report.hosts.values():
        table.add_row(
            result.name,
            Text(result.status.value, _STYLE[result.status]),
            result.last_stage or "-",
            f"{result.services_done}/{len(result.services)}",
            _fmt_duration(result.duration_s),
            _failed_where(result) or "-",
            result.diagnostics or "-",
        )
    return table


def totals_line(report: FleetReport) -> Text:
    """`N hosts: a completed, b failed, ... · longest 12.3s`."""
    counts: dict[HostStatus, int] = {}
    for result in report.hosts.values():
        counts[result.status] = counts.get(result.status, 0) + 1
    parts = [f"{n} {s.value}" for s, n in counts.items()]
    longest = max((r.duration_s for r in report.hosts.values()), default=0.0)
    text = Text(f"{len(report.hosts)} hosts: " + ", ".join(parts))
    text.append(f" · longest {_fmt_duration(longest)}", "dim")
    return text


def _diagnostics_excerpt(text: str, limit: int = 6) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return lines[:limit]


def render_report(
    console: Console,
    report: FleetReport,
    *,
    inventory_arg: str | None = None,
    record_dir: Path | None = None,
) -> None:
    """The fleet report: table, totals, failed hosts' diagnostics, next commands."""
    console.print(report_table(report))
    console.print(totals_line(report))
    for result in report.hosts.values():
        if result.status is HostStatus.COMPLETED:
            continue
        console.print()
        header = Text(f"{result.name}: ", "bold")
        header.append(result.status.value, _STYLE[result.status])
        if result.error:
            header.append(f" — {result.error}")
        console.print(header)
        for warning in result.warnings:
            console.print(Text(f"  warning: {warning}", "yellow"))
        if result.diagnostics_text:
            for line in _diagnostics_excerpt(result.diagnostics_text):
                console.print(Text(f"  | {line}", "dim"))
            if record_dir is not None:
                local = host_file(record_dir, result.name, ".diagnostics.txt")
                console.print(Text(f"  full diagnostics: {local}", "dim"))
        nxt = next_command(result, report.command, inventory_arg)
        if nxt:
            console.print(Text("  next: ", "bold") + Text(nxt))
    warned = [r for r in report.hosts.values() if r.warnings and r.status is HostStatus.COMPLETED]
    for result in warned:
        for warning in result.warnings:
            console.print(Text(f"{result.name}: warning: {warning}", "yellow"))
    if record_dir is not None:
        console.print(Text(f"recorded in {record_dir}", "dim"))


def render_status(
    console: Console, report: FleetReport, *, inventory_arg: str | None = None
) -> None:
    """`fleet status`: where every host stands, read from the hosts."""
    table = Table(title="fleet status", header_style="bold")
    for column in ("host", "status", "stage", "last service", "services", "error"):
        table.add_column(column, overflow="fold")
    for result in report.hosts.values():
        table.add_row(
            result.name,
            Text(result.status.value, _STYLE[result.status]),
            result.last_stage or "-",
            result.last_service or "-",
            f"{result.services_done}/{len(result.services)}",
            result.error or "",
        )
    console.print(table)
    console.print(totals_line(report))
    for result in report.hosts.values():
        nxt = next_command(result, "resume", inventory_arg)
        if nxt:
            console.print(Text(f"{result.name}: ", "bold") + Text(nxt))
