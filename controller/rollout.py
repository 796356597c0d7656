"""Rolling deploys: hosts in waves, in inventory order, stopped by a failure budget.

`--batch N|P%` sizes the waves, `--canary N` runs a first wave of N hosts alone, and
`--max-fail N|P%` is the budget: once more hosts than that did not complete (failed,
unreachable or disconnected), no new host starts; hosts already running finish, and the
rest are NOT_STARTED. Percentages are of the run's hosts, rounded up.

A disconnected host counts against the budget and never gives it back during the run:
its run may well complete on the host by itself, but the controller cannot know that
until it hears from the host again (`fleet resume`), and by then the rollout has gone on
or stopped on what it knew. A continuation (`fleet resume` of a stopped rollout) counts its
own budget over its own hosts.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from inventory import Host

from .errors import one_line
from .model import FleetReport, HostResult, HostStatus, RolloutSummary, ServiceState
from .options import Count, RolloutOptions

if TYPE_CHECKING:  # hostrun imports asyncssh: the CLI parses these options without it
    from .hostrun import OnUpdate

T = TypeVar("T")
StartHost = Callable[[Host], Awaitable[HostResult]]
Crashed = Callable[[Host, BaseException], HostResult]

_NAMED = 5  # hosts named in a stop reason; the rest are counted


# --- the arithmetic -------------------------------------------------------------------


def parse_count(text: str, *, option: str, zero: bool) -> Count:
    """`N` or `P%` (0 < P <= 100; N >= 1, or >= 0 when zero is allowed)."""
    raw = text.strip()
    percent = raw.endswith("%")
    digits = raw[:-1].strip() if percent else raw
    low = 0 if zero else 1
    if not digits.isdigit():
        raise ValueError(f"{option} takes N or P% (a whole number of hosts or percent): {text!r}")
    value = int(digits)
    if value < low or (percent and value > 100):
        bound = "0..100" if zero else "1..100"
        what = f"P% in {bound}" if percent else f"N >= {low}"
        raise ValueError(f"{option} takes {what}: {text!r}")
    return Count(value, percent)


def parse_batch(text: str) -> Count:
    """`--batch N|P%`: hosts per wave."""
    return parse_count(text, option="--batch", zero=False)


def parse_max_fail(text: str) -> Count:
    """`--max-fail N|P%`: hosts that may fail before the rollout stops (0 allowed)."""
    return parse_count(text, option="--max-fail", zero=True)


def hosts_of(count: Count, total: int) -> int:
    """A count applied to `total` hosts: a percentage rounds up."""
    if not count.percent:
        return count.value
    return -(-count.value * total // 100)


def plan_waves(items: Sequence[T], options: RolloutOptions) -> list[list[T]]:
    """The waves, in order: the canary alone, then batches of the rest; default one wave."""
    rest = list(items)
    waves: list[list[T]] = []
    if options.canary is not None and rest:
        waves.append(rest[: options.canary])
        rest = rest[options.canary :]
    size = max(1, hosts_of(options.batch, len(items))) if options.batch else len(rest)
    for start in range(0, len(rest), max(1, size)):
        waves.append(rest[start : start + size])
    return waves


def failure_budget(options: RolloutOptions, total: int) -> int | None:
    """How many hosts may not complete before no new one starts; None: no budget."""
    return None if options.max_fail is None else hosts_of(options.max_fail, total)


def wave_map(names: Sequence[str], options: RolloutOptions) -> dict[str, int] | None:
    """Each host's wave (1-based) in a rolling deploy; None without one."""
    if not options.active:
        return None
    return {name: i for i, wave in enumerate(plan_waves(names, options), 1) for name in wave}


def options_from(summary: RolloutSummary) -> RolloutOptions:
    """The settings a recorded rollout ran with."""
    return RolloutOptions(
        batch=parse_batch(summary.batch) if summary.batch else None,
        canary=summary.canary,
        max_fail=parse_max_fail(summary.max_fail) if summary.max_fail else None,
    )


def option_args(options: RolloutOptions) -> list[str]:
    """The command-line options that give these settings again."""
    args: list[str] = []
    if options.canary is not None:
        args += ["--canary", str(options.canary)]
    if options.batch is not None:
        args += ["--batch", str(options.batch)]
    if options.max_fail is not None:
        args += ["--max-fail", str(options.max_fail)]
    return args


# --- the driver -----------------------------------------------------------------------


class Rollout:
    """Runs hosts wave after wave under one concurrency bound, minding the budget."""

    def __init__(
        self,
        hosts: Sequence[Host],
        options: RolloutOptions,
        concurrency: int,
        start: StartHost,
        crashed: Crashed,
        on_update: OnUpdate | None = None,
    ) -> None:
        self.hosts = list(hosts)
        self.options = options
        self.waves = plan_waves(self.hosts, options)
        self.budget = failure_budget(options, len(self.hosts))
        self.not_completed: list[str] = []
        self.stopped: str | None = None  # why no new host starts, once the budget is spent
        self.not_started = 0
        self._start = start
        self._crashed = crashed
        self._on_update = on_update
        self._running = asyncio.Semaphore(max(1, concurrency))

    async def run(self) -> dict[str, HostResult]:
        """Every host's result, in inventory order."""
        results: dict[str, HostResult] = {}
        for index, wave in enumerate(self.waves, 1):
            if self.stopped is not None:
                results.update((h.name, self._skip(h, index)) for h in wave)
                continue
            outcomes = await asyncio.gather(
                *(self._one(h, index) for h in wave), return_exceptions=True
            )
            for host, outcome in zip(wave, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    if isinstance(outcome, KeyboardInterrupt | SystemExit):
                        raise outcome
                    outcome = self._counted(self._crashed(host, outcome), index)
                results[host.name] = outcome
        return {h.name: results[h.name] for h in self.hosts}

    def summary(self, fresh: Iterable[str]) -> RolloutSummary | None:
        """The report's `rollout` object; None when no rollout option was given."""
        if not self.options.active:
            return None
        return RolloutSummary(
            batch=None if self.options.batch is None else str(self.options.batch),
            canary=self.options.canary,
            max_fail=None if self.options.max_fail is None else str(self.options.max_fail),
            waves=len(self.waves),
            stopped=self.stopped if self.not_started else None,
            fresh=list(fresh),
        )

    async def _one(self, host: Host, wave: int) -> HostResult:
        async with self._running:
            # Checked once a slot is free: a host waiting in its wave never starts
            # after the budget is spent.
            if self.stopped is not None:
                return self._skip(host, wave)
            try:
                result = await self._start(host)
            except Exception as exc:  # one host's crash is data in the report
                result = self._crashed(host, exc)
        return self._counted(result, wave)

    def _counted(self, result: HostResult, wave: int) -> HostResult:
        if self.options.active:
            result.wave = wave
        if result.status is not HostStatus.COMPLETED:
            self.not_completed.append(result.name)
            spent = self.budget is not None and len(self.not_completed) > self.budget
            if spent and self.stopped is None:
                self.stopped = self._reason(wave)
        return result

    def _reason(self, wave: int) -> str:
        names = ", ".join(self.not_completed[:_NAMED])
        more = len(self.not_completed) - _NAMED
        if more > 0:
            names += f" and {more} more"
        count = len(self.not_completed)
        return one_line(
            f"failure budget spent in wave {wave} of {len(self.waves)}: {count} hosts did "
            f"not complete ({names}), more than --max-fail {self.options.max_fail} allows"
            f" ({self.budget} of {len(self.hosts)} hosts)"
        )

    def _skip(self, host: Host, wave: int) -> HostResult:
        result = HostResult(
            name=host.name,
            services={svc: ServiceState.PENDING for svc in host.services},
            status=HostStatus.NOT_STARTED,
            error=one_line(f"not started: {self.stopped}"),
            wave=wave if self.options.active else None,
        )
        self.not_started += 1
        if self._on_update is not None:
            self._on_update(result, None)
        return result


# --- continuing a stopped rollout -----------------------------------------------------


@dataclass(frozen=True)
class Continuation:
    """How `fleet resume` runs its hosts: the waves' settings, and which hosts start
    fresh (they never started in their last run, so they have no markers of it)."""

    options: RolloutOptions
    fresh: frozenset[str]


def continuation(
    recent: Iterable[FleetReport], names: Sequence[str], given: RolloutOptions
) -> Continuation:
    """Read the newest recorded runs (newest first) of these hosts.

    Without rollout options, a resume reuses those of the newest run of its hosts when
    that was a rolling deploy. A host whose newest run left it not_started or
    unreachable, where it was to start fresh, starts a fresh run: `--resume` on its
    markers would find an older run's state, and a completed one would do nothing.
    """
    pending = set(names)
    fresh: set[str] = set()
    settings: RolloutOptions | None = None
    first = True
    for report in recent:
        seen = pending & report.hosts.keys()
        if not seen:
            continue
        pending -= seen
        summary = report.rollout
        if first and summary is not None:
            settings = options_from(summary)
        first = False
        if summary is not None:
            fresh.update(n for n in seen if _never_started(report, n, summary))
        if not pending:
            break
    options = given if given.active else (settings or RolloutOptions())
    return Continuation(options=options, fresh=frozenset(fresh))


def _never_started(report: FleetReport, name: str, summary: RolloutSummary) -> bool:
    """Left before its run started, in a run where it was to start fresh (a host that
    was to resume keeps its markers for the next try)."""
    status = report.hosts[name].status
    never = status in (HostStatus.NOT_STARTED, HostStatus.UNREACHABLE)
    return never and name in summary.fresh


def continue_command(report: FleetReport, inventory_arg: str | None) -> str | None:
    """The one command that continues a stopped rollout: every host that did not complete."""
    if report.rollout is None or report.rollout.stopped is None:
        return None
    names = [n for n, r in report.hosts.items() if r.status is not HostStatus.COMPLETED]
    argv = ["fleet", "resume"]
    if inventory_arg:
        argv += ["-i", inventory_arg]
    argv += names + option_args(options_from(report.rollout))
    return " ".join(shlex.quote(a) for a in argv)
