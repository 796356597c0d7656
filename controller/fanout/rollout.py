"""Rolling deploys, the driver: hosts wave after wave, stopped by a failure budget
(the arithmetic and the continuation are controller/report/waves.py).

Under --until-done (fanout/untildone.py) a host between tries is `waiting`: it counts as
neither completed nor failed until its tries end. The next wave does not wait for it,
unless counting every waiting host as failed would spend the budget: then the rollout
holds until enough of them are done (docs/unattended.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence

from controller.errors import one_line
from controller.fanout.untildone import UntilDone
from controller.options import RolloutOptions
from controller.report.model import HostResult, HostStatus, RolloutSummary, ServiceState
from controller.report.waves import failure_budget, plan_waves
from controller.report.words import plural
from controller.session.host import OnUpdate
from inventory import Host

# One try of a host; its argument is the host's previous try (None: the first).
StartHost = Callable[[Host, HostResult | None], Awaitable[HostResult]]
Crashed = Callable[[Host, BaseException], HostResult]

_NAMED = 5  # hosts named in a stop reason; the rest are counted


class FailureBudget:
    """--max-fail: the hosts that did not complete, and why no new host may start once
    more of them than the budget allows did not."""

    def __init__(self, options: RolloutOptions, hosts: int, waves: int) -> None:
        self.limit = failure_budget(options, hosts)
        self.not_completed: list[str] = []
        self._max_fail = options.max_fail
        self._hosts = hosts
        self._waves = waves

    def count(self, name: str, wave: int) -> str | None:
        """A host that did not complete; the reason to stop when this one spends it."""
        self.not_completed.append(name)
        if self.limit is None or len(self.not_completed) != self.limit + 1:
            return None
        return self._reason(wave)

    def may_pass(self, waiting: int) -> bool:
        """Could this many hosts between tries all fail without spending the budget?"""
        return self.limit is None or len(self.not_completed) + waiting <= self.limit

    def _reason(self, wave: int) -> str:
        names = ", ".join(self.not_completed[:_NAMED])
        more = len(self.not_completed) - _NAMED
        if more > 0:
            names += f" and {more} more"
        hosts = plural(len(self.not_completed), "host")
        return one_line(
            f"failure budget spent in wave {wave} of {self._waves}: {hosts} did "
            f"not complete ({names}), more than --max-fail {self._max_fail} allows"
            f" ({self.limit} of {plural(self._hosts, 'host')})"
        )


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
        until: UntilDone | None = None,
    ) -> None:
        self.hosts = list(hosts)
        self.options = options
        self.waves = plan_waves(self.hosts, options)
        self.budget = FailureBudget(options, len(self.hosts), len(self.waves))
        self.stopped: str | None = None  # why no new host starts, once the budget is spent
        self.not_started = 0
        self._start = start
        self._crashed = crashed
        self._on_update = on_update
        self._running = asyncio.Semaphore(max(1, concurrency))
        self._until = until
        self._waiting: set[str] = set()
        self._changed = asyncio.Event()

    async def run(self) -> dict[str, HostResult]:
        """Every host's result, in inventory order."""
        results: dict[str, HostResult] = {}
        started: list[tuple[Host, int, asyncio.Future[HostResult]]] = []
        for index, wave in enumerate(self.waves, 1):
            self._stop_if_interrupted()
            if self.stopped is not None:
                results.update((h.name, self._skip(h, index)) for h in wave)
                continue
            tasks = [asyncio.ensure_future(self._one(h, index)) for h in wave]
            for task in tasks:
                task.add_done_callback(lambda _: self._changed.set())
            started += [(h, index, t) for h, t in zip(wave, tasks, strict=True)]
            await self._settled(wave, tasks)
        outcomes = await asyncio.gather(*(t for _, _, t in started), return_exceptions=True)
        for (host, index, _), outcome in zip(started, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, KeyboardInterrupt | SystemExit):
                    raise outcome
                outcome = self._counted(self._crashed(host, outcome), index)
            results[host.name] = outcome
        return {h.name: results[h.name] for h in self.hosts}

    async def _settled(self, wave: list[Host], tasks: Sequence[asyncio.Future[HostResult]]) -> None:
        """Until every host of the wave is done, or waiting between tries where the budget
        could take every waiting host as failed."""
        while True:
            self._changed.clear()
            busy = [h.name for h, t in zip(wave, tasks, strict=True) if not t.done()]
            if not busy:
                return
            waiting = all(name in self._waiting for name in busy)
            if waiting and self.budget.may_pass(len(self._waiting)):
                return
            await self._changed.wait()

    def _waiting_hook(self, name: str) -> Callable[[bool], None]:
        def waiting(now: bool) -> None:
            (self._waiting.add if now else self._waiting.discard)(name)
            self._changed.set()

        return waiting

    def _stop_if_interrupted(self) -> None:
        if self._until is not None and self._until.interrupted and self.stopped is None:
            self.stopped = "interrupted (a signal ended the run)"

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
        if self._until is None:
            result = await self._try(host, wave, None)
        else:

            async def try_once(previous: HostResult | None) -> HostResult:
                return await self._try(host, wave, previous)

            result = await self._until.run(host, try_once, self._waiting_hook(host.name))
        if result.status is HostStatus.NOT_STARTED:  # never started: not counted
            result.wave = wave if self.options.active else None
            return result
        return self._counted(result, wave)

    async def _try(self, host: Host, wave: int, previous: HostResult | None) -> HostResult:
        async with self._running:
            # Checked once a slot is free: a host waiting in its wave never starts
            # after the budget is spent.
            self._stop_if_interrupted()
            if self.stopped is not None and previous is None:
                return self._skip(host, wave)
            try:
                return await self._start(host, previous)
            except Exception as exc:  # one host's crash is data in the report
                return self._crashed(host, exc)

    def _counted(self, result: HostResult, wave: int) -> HostResult:
        if self.options.active:
            result.wave = wave
        if result.status is not HostStatus.COMPLETED:
            reason = self.budget.count(result.name, wave)
            if reason is not None and self.stopped is None:
                self.stopped = reason
        return result

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
