"""`--until-done DURATION`: a host that ends unreachable or disconnected is tried again.

Each try is one whole session of the host (connect, run, follow), bounded by the connect
and reconnect timeouts; between tries the host waits, with jittered exponential backoff
(a few seconds at first, a few minutes at most), until it completes, fails for a cause
that retrying cannot mend, or DURATION has passed since the run began. A try that starts
before the deadline may end after it, by at most one try's own bounds. The clock, sleep
and random source are the link's (session/link.Timing): tests run this in fake time.

Every try after one that reached the host resumes from the host's markers (a run still
going there is re-attached, a completed service is never deployed again); a host no try
has reached yet keeps the settings of its first try. What the retries are for, and how
an interrupt ends them, is docs/unattended.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from controller.report.events import Event
from controller.report.model import HostResult, HostStatus, ServiceState
from controller.report.problems import Problem
from controller.session.link import Timing
from inventory import Host

# An unreachable host is tried again only for these causes; a changed or unknown host
# key and a refused login stay what they are however long one waits.
MENDED_BY_TIME = frozenset(
    {
        Problem.CONN_REFUSED,
        Problem.CONN_TIMEOUT,
        Problem.CONN_RESET,
        Problem.DNS,
        Problem.SSH_ERROR,
        Problem.LINK_LOST,
    }
)

WAITING = "waiting"  # the live view's stage of a host between tries

TryOnce = Callable[[HostResult | None], Awaitable[HostResult]]
Waiting = Callable[[bool], None]
OnUpdate = Callable[[HostResult, Event | None], None]


@dataclass(frozen=True)
class Backoff:
    """Seconds between tries: base * 2^n, capped, times a jitter in [0.5, 1)."""

    base: float = 5.0
    cap: float = 180.0

    def delay(self, tries: int, timing: Timing) -> float:
        plain = min(self.cap, self.base * float(2 ** max(0, tries - 1)))
        return plain * (0.5 + timing.rng.random() / 2)


def retryable(result: HostResult) -> bool:
    """A try that waiting may mend: the host was away, not wrong."""
    if result.status is HostStatus.DISCONNECTED:
        return True
    return result.status is HostStatus.UNREACHABLE and result.problem in MENDED_BY_TIME


def reached(result: HostResult | None) -> bool:
    """Some try so far connected to the host (its run may have started there)."""
    return result is not None and result.connections > 0


class UntilDone:
    """The tries of every host of one run, against one deadline; `interrupt()` ends every
    wait (and every try in progress) at once, leaving each host's result as it stands."""

    def __init__(
        self,
        duration: float,
        timing: Timing,
        on_update: OnUpdate | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.timing = timing
        self.backoff = backoff or Backoff()
        self.deadline = timing.clock() + duration
        self._on_update = on_update
        self._interrupted = asyncio.Event()
        self._latest: dict[str, HostResult] = {}  # each host's result as its try goes on

    @property
    def interrupted(self) -> bool:
        return self._interrupted.is_set()

    def interrupt(self) -> None:
        self._interrupted.set()

    def on_update(self, result: HostResult, event: Event | None) -> None:
        """The sessions' updates, passed on; the latest result of each host is kept for
        an interrupt that cancels its try."""
        self._latest[result.name] = result
        if self._on_update is not None:
            self._on_update(result, event)

    async def run(self, host: Host, try_once: TryOnce, waiting: Waiting) -> HostResult:
        """Try the host until it is done; its last try's result, with `attempts`."""
        started = self.timing.clock()
        result: HostResult | None = None
        tries = 0
        while True:
            outcome = await self._one_try(host, try_once, result)
            if outcome is result and result is not None:
                return result  # interrupted before the try reached the host
            if outcome.status is HostStatus.NOT_STARTED:
                return outcome  # never started (a spent budget, an interrupt): no tries
            tries += 1
            result = _merged(result, outcome, tries, self.timing.clock() - started)
            delay = self._next_delay(result, tries)
            if delay is None:
                return result
            self._announce(result, tries, delay)
            waiting(True)
            began = time.time()
            try:
                await self._wait(delay)
            finally:
                waiting(False)
                result.gaps.append(_waited(began, tries, result))
            if self.interrupted:
                return result

    async def _one_try(
        self, host: Host, try_once: TryOnce, previous: HostResult | None
    ) -> HostResult:
        """One try, or what it had when an interrupt came (a run is `running` on its host)."""
        task = asyncio.ensure_future(try_once(previous))
        stop = asyncio.ensure_future(self._interrupted.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            return self._as_it_stands(host, previous)

    def _as_it_stands(self, host: Host, previous: HostResult | None) -> HostResult:
        """A try cut by an interrupt: a run it reached goes on on the host (`running`);
        one that never connected leaves the host as the try before left it."""
        latest = self._latest.get(host.name)
        if latest is not None and latest is not previous and latest.connections > 0:
            latest.status = HostStatus.RUNNING
            latest.error = "interrupted while following its run, which goes on on the host"
            return latest
        if previous is not None:
            return previous
        return HostResult(
            name=host.name,
            services={svc: ServiceState.PENDING for svc in host.services},
            status=HostStatus.NOT_STARTED,
            error="interrupted before its first try reached the host",
        )

    def _next_delay(self, result: HostResult, tries: int) -> float | None:
        """Seconds until the next try; None when this host is done."""
        if self.interrupted or not retryable(result):
            return None
        remaining = self.deadline - self.timing.clock()
        if remaining <= 0:
            return None
        return min(self.backoff.delay(tries, self.timing), remaining)

    async def _wait(self, delay: float) -> None:
        sleep = asyncio.ensure_future(self.timing.sleep(delay))
        stop = asyncio.ensure_future(self._interrupted.wait())
        try:
            await asyncio.wait({sleep, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            stop.cancel()

    def _announce(self, result: HostResult, tries: int, delay: float) -> None:
        """The live view's `waiting` row and the plain output's one line for this try."""
        if self._on_update is None:
            return
        at = time.strftime("%H:%M:%S", time.localtime(time.time() + delay))
        why = f": {result.error}" if result.error else ""
        note = (
            f"{WAITING}: try {tries} ended {result.status.value}{why}; next try at {at} "
            f"(in {delay:.0f}s)"
        )
        shown = replace(result, status=HostStatus.RUNNING, stage=WAITING, note=note)
        self._on_update(shown, None)


def _waited(began: float, tries: int, result: HostResult) -> dict[str, Any]:
    """The wait after a try, as a gap of the host's record (the HTML timeline shows it)."""
    cause = f"waiting after try {tries} ({result.status.value})"
    return {"start": round(began, 3), "end": round(time.time(), 3), "cause": cause}


def _merged(
    previous: HostResult | None, latest: HostResult, tries: int, elapsed: float
) -> HostResult:
    """The latest try's result, carrying what the earlier ones add to the record: the
    connections made and the link's gaps (so `reached` stays true), the total time."""
    latest.attempts = tries
    latest.duration_s = elapsed
    if previous is not None:
        latest.connections += previous.connections
        latest.gaps = [*previous.gaps, *latest.gaps]
        latest.notes = [*previous.notes, *latest.notes]
    return latest


@contextlib.contextmanager
def interrupts_end(until: UntilDone | None) -> Iterator[None]:
    """While the run goes on, Ctrl-C and SIGTERM end every wait (and try) at once and the
    run reports what it has; a second signal acts as it always does (the handlers are
    gone after the first). Nothing on a host is touched: its runner goes on by itself."""
    if until is None:
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def first(_: signal.Signals) -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)
        until.interrupt()

    installed = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, first, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            continue
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
