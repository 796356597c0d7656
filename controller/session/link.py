"""One host's connection: connect with retries, reconnect within the one deadline.

Transient connect failures are retried a few times within the connect timeout, with
jittered exponential backoff; after a drop, reconnecting draws on the host's one
reconnect deadline (deadline.py), so no path through a host's session loops. Handshakes
are bounded across hosts by one shared semaphore (OpenSSH's MaxStartups is 10).
The clock, sleep and random source are injected: tests run the policy in fake time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controller.options import DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_TIMEOUT
from controller.session.deadline import ReconnectDeadline
from controller.transport.connector import ConnectError, Connector, ConnectorFactory, LinkLost
from inventory import Host

Note = Callable[[str | None], None]


@dataclass(frozen=True)
class LinkPolicy:
    """How hard a link tries; the same for every host of one command."""

    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT
    connect_attempts: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0


@dataclass
class Timing:
    """Time as the link sees it: real by default, fake in tests."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)


class Disconnected(Exception):
    """The host stayed away past --reconnect-timeout."""


class Link:
    """The one connection to one host, opened again after a drop while the deadline allows."""

    def __init__(
        self,
        host: Host,
        connectors: ConnectorFactory,
        handshakes: asyncio.Semaphore,
        policy: LinkPolicy,
        timing: Timing,
        note: Note,
    ) -> None:
        self.host = host
        self.policy = policy
        self.connections = 0
        # Each drop until the link was back (or given up): wall-clock start and end and the
        # cause, so the HTML report can place it beside the host's own [STRUCT] times.
        self.gaps: list[dict[str, Any]] = []
        self._connectors = connectors
        self._handshakes = handshakes
        self._timing = timing
        self._note = note
        self._conn: Connector | None = None
        self._deadline = ReconnectDeadline(policy.reconnect_timeout, timing.clock)
        self._futile = 0  # reconnections in a row after which nothing new arrived

    @property
    def conn(self) -> Connector:
        """The open connection; LinkLost when there is none (never connected, or closed)."""
        if self._conn is None:
            raise LinkLost("not connected", host=self.host.name)
        return self._conn

    async def connect(self) -> None:
        """Connect, retrying only transient failures, a few times within a bound."""
        started = self._timing.clock()
        for attempt in range(self.policy.connect_attempts):
            try:
                await self._open()
                return
            except ConnectError as err:
                spent = self._timing.clock() - started
                last = attempt + 1 >= self.policy.connect_attempts
                if not err.transient or last or spent >= self.policy.connect_timeout:
                    raise
                self._note(f"retrying connect: {err}")
                await self._timing.sleep(self._backoff(attempt))

    async def reconnect(self, progress: int, cause: str = "link lost") -> None:
        """After a drop: reconnect with jittered backoff within the host's one deadline
        (a reconnection that gained nothing before the next drop does not renew it).
        `progress` counts what the host sent so far (bytes of its run log)."""
        lost_at = time.time()
        try:
            await self._reconnect(progress)
        finally:
            gap = {"start": round(lost_at, 3), "end": round(time.time(), 3), "cause": cause}
            self.gaps.append(gap)

    async def _reconnect(self, progress: int) -> None:
        fresh = self._deadline.link_lost(progress)
        if not fresh:
            # The last reconnection gained nothing: wait before the next, as after a
            # failed connect, so a step that fails at once cannot spin.
            self._futile += 1
            await self._timing.sleep(min(self._backoff(self._futile), self._deadline.remaining()))
        else:
            self._futile = 0
        attempt = 0
        while True:
            remaining = self._deadline.remaining()
            if remaining <= 0 and not (fresh and attempt == 0):
                raise Disconnected("the same step failed again after each reconnect")
            self._note(f"link lost; reconnecting (attempt {attempt + 1})")
            try:
                await self._open(timeout=max(1.0, min(self.policy.connect_timeout, remaining)))
                self._note(None)
                return
            except (ConnectError, TimeoutError) as err:
                remaining = self._deadline.remaining()
                if remaining <= 0 or (isinstance(err, ConnectError) and not err.transient):
                    raise Disconnected(str(err)) from err
                await self._timing.sleep(min(self._backoff(attempt), remaining))
                attempt += 1

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def _open(self, timeout: float | None = None) -> None:
        await self.close()
        conn = self._connectors(self.host)
        # Handshakes are bounded apart from running hosts (OpenSSH MaxStartups 10).
        try:
            async with self._handshakes:
                if timeout is None:
                    await conn.connect()
                else:
                    await asyncio.wait_for(conn.connect(), timeout)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self.connections += 1

    def _backoff(self, attempt: int) -> float:
        delay = min(self.policy.backoff_cap, self.policy.backoff_base * float(2**attempt))
        jitter: float = 0.5 + self._timing.rng.random() / 2
        return delay * jitter
