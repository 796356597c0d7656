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

from controller.report.events import Event
from controller.report.model import FleetReport, HostResult, HostStatus
from controller.report.problems import Problem, report_advice
from controller.report.steps import rollback_steps
from controller.report.store import host_file
from controller.report.waves import continue_command
from controller.report.words import plural

_STYLE = {
    HostStatus.COMPLETED: "green",
    HostStatus.FAILED: "red",
    HostStatus.ROLLED_BACK: "red",
    HostStatus.UNREACHABLE: "magenta",
    HostStatus.DISCONNECTED: "yellow",
    HostStatus.RUNNING: "cyan",
    HostStatus.NOT_STARTED: "dim",
    HostStatus.NOT_DEPLOYED: "dim",
    HostStatus.PENDING: "yellow",
}

# Live view refresh: often enough to feel live, rarely enough to cost nothing at N=100.
REFRESH_S = 0.25


def _fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


# --- while the run goes on ----------------------------------------------------------


# What each event says after `HH:MM:SS HOST STAGE [SERVICE]:` in plain output.
_SAID = {
    "stage_started": "started",
    "stage_completed": "completed",
    "stage_skipped": "skipped (done by an earlier run)",
    "stage_failed": "failed",
    "service_started": "started",
    "service_completed": "completed",
    "service_skipped": "skipped (already deployed)",
    "service_failed": "failed",
    "diagnostics_collected": "diagnostics written",
    "image_pulled": "image pulled",
    "release_recorded": "release recorded",
    "warning": "warning",
}


def event_sentence(host: str, event: Event) -> str:
    """One event as a line a person reads: `nas deploy media: completed in 2.1s`."""
    if event.event == "run_started":
        said = f"{host}: run {event.run_id} started" if event.run_id else f"{host}: run started"
    elif event.status == HostStatus.ROLLED_BACK.value:
        said = f"{host}: rolled back"  # the rollback's run completed; the deploy did not
    elif event.event in ("run_completed", "run_failed"):
        failed = "refused" if event.status == "refused" else "failed"
        said = f"{host}: run {'completed' if event.event == 'run_completed' else failed}"
        if event.rollback_run:
            said += f", rolling back to release {event.release}"
    else:
        where = " ".join(w for w in (event.stage, event.service) if w)
        said = f"{host} {where}:" if where else f"{host}:"
        said += " " + _SAID.get(event.event, event.event.replace("_", " "))
    if event.duration_ms is not None and event.event.endswith("_completed"):
        said += f" in {_fmt_duration(event.duration_ms / 1000)}"
    first = event.message.strip().splitlines()[0] if event.message and event.message.strip() else ""
    if first:
        # What went well is an aside; what went wrong is what the line says.
        quiet = event.event.endswith(("_completed", "_skipped")) and not event.failed_run
        said += f" ({first})" if quiet else f": {first}"
    if event.path and event.event in ("diagnostics_collected", "run_failed", "run_started"):
        said += f" ({event.path})"
    return said


class PlainView:
    """Non-terminal output (CI logs, `| tee`): one timed sentence per event, e.g.
    `12:04:31 nas deploy media: completed in 2.1s`; in a rolling deploy, a
    `wave N of M: HOST...` line as each wave starts."""

    def __init__(
        self,
        console: Console,
        waves: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.console = console
        self._clock = clock
        self._waves = waves or {}
        self._wave = 0
        self._last_said: dict[str, str] = {}  # per host: its previous sentence

    def on_update(self, result: HostResult, event: Event | None) -> None:
        self._wave_line(result)
        if event is not None:
            said = event_sentence(result.name, event)
            # A failed service's stage fails with the same words: say them once.
            if self._last_said.get(result.name) != said:
                self._out(said)
            self._last_said[result.name] = said
        elif result.note:
            self._out(f"{result.name}: {result.note}")
        elif result.status is not HostStatus.RUNNING:
            said = f"{result.name}: {result.status.value.replace('_', ' ')}"
            error = result.error if result.status is not HostStatus.COMPLETED else None
            if error and error not in self._last_said.get(result.name, ""):
                said += f": {error}"  # not when the run's last event said it already
            self._out(said)
            self._last_said[result.name] = said

    def _wave_line(self, result: HostResult) -> None:
        wave = self._waves.get(result.name, 0)
        if wave > self._wave and result.status is not HostStatus.NOT_STARTED:
            self._wave = wave
            names = " ".join(n for n, w in self._waves.items() if w == wave)
            self._out(f"wave {wave} of {max(self._waves.values())}: {names}")

    def _out(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(self._clock()))
        self.console.out(f"{stamp} {line}", highlight=False)


class LiveView:
    """A terminal live table, one row per host, refreshed a few times a second."""

    def __init__(
        self,
        console: Console,
        hosts: Sequence[tuple[str, int]],
        clock: Callable[[], float] = time.monotonic,
        waves: dict[str, int] | None = None,
    ) -> None:
        self.console = console
        self._hosts = list(hosts)
        self._waves = waves
        self._results: dict[str, HostResult] = {}
        self._clock = clock
        self._started = clock()
        self._live: Live | None = None

    def on_update(self, result: HostResult, event: Event | None) -> None:
        self._results[result.name] = result

    def table(self) -> Table:
        now = self._clock()
        table = Table(box=None, pad_edge=False, header_style="bold")
        columns = ("host", "stage", "service", "done", "elapsed", "")
        for column in ("wave", *columns) if self._waves else columns:
            table.add_column(column)
        counts = {s: 0 for s in HostStatus}
        current = self._current_wave()
        for name, total in self._hosts:
            result = self._results.get(name)
            wave = [str(self._waves.get(name, ""))] if self._waves else []
            if result is None:
                later = self._waves is not None and self._waves.get(name, 0) > current
                waiting = Text(f"after wave {current}" if later else "waiting", "dim")
                table.add_row(*wave, name, waiting, "", f"0/{total}", "", "")
                counts[HostStatus.RUNNING] += 1
                continue
            counts[result.status] += 1
            if result.status is HostStatus.RUNNING:
                # `waiting`: between two tries of --until-done (its note: the next try's time)
                between_tries = result.stage == "waiting"
                style = "yellow" if between_tries else "cyan"
                step = "rollback: " if result.rollback is not None else ""
                stage = Text(step + (result.stage or "connecting"), style)
                elapsed = now - self._started
            else:
                stage = Text(result.status.value, _STYLE[result.status])
                elapsed = result.duration_s
            table.add_row(
                *wave,
                name,
                stage,
                result.service or "",
                f"{result.services_done}/{len(result.services)}",
                _fmt_duration(elapsed),
                Text(result.note or "", "dim"),
            )
        caption = [f"{s.value}: {n}" for s, n in counts.items() if n]
        table.caption = "  ".join(self._wave_caption() + caption)
        return table

    def _current_wave(self) -> int:
        """The newest wave a host of which has started (1 before any has)."""
        if not self._waves:
            return 0
        started = [
            self._waves.get(name, 0)
            for name, result in self._results.items()
            if result.status is not HostStatus.NOT_STARTED
        ]
        return max(started, default=1)

    def _wave_caption(self) -> list[str]:
        """`wave 2 of 4`, in a rolling deploy."""
        if not self._waves:
            return []
        return [f"wave {self._current_wave()} of {max(self._waves.values())}"]

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
    again = resume if command in ("resume", "rollback") else f"fleet deploy{inv} --hosts {name}"
    if result.status is HostStatus.RUNNING:
        return f"a run is still going; follow it with: {resume}"
    if result.status is HostStatus.NOT_STARTED:
        return f"continue the rollout (below), or this host alone: {resume}"
    if result.status is HostStatus.PENDING:
        return f"{resume} (or every pending host: fleet resume{inv} --pending)"
    if result.attempts is not None and result.status is HostStatus.UNREACHABLE:
        tries = plural(result.attempts, "try", "tries")
        return f"{result.name} was not reached in {tries}; when it is back: {resume}"
    if result.status is HostStatus.NOT_DEPLOYED:
        return f"run fleet deploy{inv} --hosts {name}"
    if result.status is HostStatus.DISCONNECTED or result.problem is Problem.RUN_VANISHED:
        return resume
    if result.problem is Problem.STAGE_FAILED:
        what = result.failed_service or f"the {result.failed_stage} stage"
        return f"fix {what} (see diagnostics), then: {resume}"
    deploy = f"fleet deploy{inv} --hosts {name}"
    return report_advice(result.problem, name=name, again=again, deploy=deploy, resume=resume)


def _failed_where(result: HostResult) -> str:
    if result.failed_stage is None:
        return ""
    svc = result.failed_service
    return f"{result.failed_stage}/{svc}" if svc else result.failed_stage


def report_table(report: FleetReport) -> Table:
    """host, status, last stage, services done/total, duration, failed, diagnostics."""
    table = Table(title=f"fleet run {report.run_id}", header_style="bold")
    waves = report.rollout is not None
    if waves:
        table.add_column("wave", justify="right")
    table.add_column("host")
    table.add_column("status")
    table.add_column("last stage")
    table.add_column("services", justify="right")
    table.add_column("duration", justify="right")
    tries = any(r.attempts is not None for r in report.hosts.values())
    if tries:  # --until-done
        table.add_column("tries", justify="right")
    table.add_column("failed at")
    table.add_column("diagnostics", overflow="fold")
    for result in report.hosts.values():
        table.add_row(
            *([str(result.wave or "-")] if waves else []),
            result.name,
            Text(result.status.value, _STYLE[result.status]),
            result.last_stage or "-",
            f"{result.services_done}/{len(result.services)}",
            _fmt_duration(result.duration_s),
            *([str(result.attempts or "-")] if tries else []),
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
    text = Text(f"{plural(len(report.hosts), 'host')}: " + ", ".join(parts))
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
    # Hosts a stopped rollout never started share one reason and one command (below).
    left = HostStatus.NOT_STARTED if continue_command(report, inventory_arg) else None
    for result in report.hosts.values():
        if result.status in (HostStatus.COMPLETED, left):
            continue
        console.print()
        header = Text(f"{result.name}: ", "bold")
        header.append(result.status.value, _STYLE[result.status])
        if result.error:
            header.append(f" — {result.error}")
        console.print(header)
        for step in rollback_steps(result.to_json()):
            console.print(Text(f"  {step}"))
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
    _rollout_lines(console, report, inventory_arg)
    if record_dir is not None:
        console.print(Text(f"recorded in {record_dir}", "dim"))


def _rollout_lines(console: Console, report: FleetReport, inventory_arg: str | None) -> None:
    """Why a rolling deploy stopped, and the one command that continues it."""
    command = continue_command(report, inventory_arg)
    if report.rollout is None or command is None:
        return
    console.print()
    console.print(Text("rollout stopped: ", "bold red") + Text(report.rollout.stopped or ""))
    # Never folded: the operator copies this line whole.
    console.print(Text("  continue the rollout: ", "bold") + Text(command), soft_wrap=True)


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
