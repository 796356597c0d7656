"""A slow, breakable link in userspace, since `tc` does not work here (TESTWORLD.md).

`LinkProxy` listens on its own loopback address and forwards every connection to a lab
host's sshd, delaying each chunk (one way: half the round trip), capping the bytes per
second in each direction, and on command holding every byte while keeping the sockets
open: a dead LTE link, which TCP on either end cannot tell from a slow one. It runs its
own event loop in a thread and stops with `stop()` (or the `with` block).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from pathlib import Path

from tests.lab.hosts import LabHost

CHUNK = 16384


class LinkProxy:
    """One proxied link: listen_address:port -> target host:port."""

    def __init__(
        self,
        listen_address: str,
        target: tuple[str, int],
        *,
        rtt_s: float = 0.0,
        rate_bytes_s: float | None = None,
        blackhole_after_up: int | None = None,
    ) -> None:
        self.listen_address = listen_address
        self.port = 0
        self.target = target
        self.delay_s = rtt_s / 2
        self.rate = rate_bytes_s
        # Cut the link by itself once this many bytes went towards the host: a drop
        # mid-upload, at a byte count a test can aim at.
        self.blackhole_after_up = blackhole_after_up
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        # Exchanges: each time bytes start flowing back to the client after it sent some
        # (one request and its answer): what a round trip costs on a slow link.
        self.round_trips = 0
        # Every chunk read, in order: (seconds since start, "up"/"down", bytes), so a test
        # or the docs can tell which exchange was which.
        self.trace: list[tuple[float, str, int]] = []
        self._started = time.monotonic()
        self._last_up = False
        self._loop = asyncio.new_event_loop()
        self._open: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- control (from the test's thread) ----------------------------------------------

    def __enter__(self) -> LinkProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    def blackhole(self) -> None:
        """Stop forwarding; every socket stays open, every byte waits."""
        self._loop.call_soon_threadsafe(self._gate().clear)

    def drop(self) -> None:
        """Cut the link as a router restarting does: every open connection ends (the
        controller sees it at once, not after its keepalives), and nothing passes until
        `restore()` (new connections are taken and held)."""
        asyncio.run_coroutine_threadsafe(self._drop(), self._loop).result(10)

    def restore(self) -> None:
        """Forward again (what waited goes first)."""
        self._loop.call_soon_threadsafe(self._gate().set)

    @property
    def blackholed(self) -> bool:
        return not self._gate().is_set()

    def wait_blackholed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.blackholed:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Close the listener and every link, then end the thread; safe to call twice."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # -- the loop ----------------------------------------------------------------------

    def _gate(self) -> asyncio.Event:
        assert self._open is not None
        return self._open

    async def _listen(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._server = await asyncio.start_server(self._serve, self.listen_address, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _drop(self) -> None:
        self._gate().clear()
        for task in list(self._tasks):
            task.cancel()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            down_w.close()
            return
        try:
            await asyncio.gather(self._pipe(down_r, up_w, True), self._pipe(up_r, down_w, False))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for writer in (up_w, down_w):
                with contextlib.suppress(OSError, RuntimeError):
                    writer.close()
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, up: bool
    ) -> None:
        """Read, then deliver each chunk `delay_s` later, at most `rate` bytes/s, in order."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, writer))
        try:
            while data := await reader.read(CHUNK):
                self.trace.append(
                    (time.monotonic() - self._started, "up" if up else "down", len(data))
                )
                if up:
                    self._count_up(len(data))
                else:
                    self.bytes_down += len(data)
                    self.round_trips += self._last_up
                self._last_up = up
                queue.put_nowait((time.monotonic() + self.delay_s, data))
            queue.put_nowait((0.0, b""))
            await sender
        finally:
            sender.cancel()

    def _count_up(self, size: int) -> None:
        self.bytes_up += size
        limit = self.blackhole_after_up
        if limit is not None and self.bytes_up >= limit:
            self.blackhole_after_up = None
            self._gate().clear()

    async def _send(
        self, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        free_at = 0.0
        while True:
            due, data = await queue.get()
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self._gate().wait()
            if self.rate:
                free_at = max(free_at, time.monotonic()) + len(data) / self.rate
                await asyncio.sleep(max(0.0, free_at - time.monotonic()))
            await self._gate().wait()
            writer.write(data)
            await writer.drain()


def free_address(subnet: str, third: int = 9) -> str:
    """A loopback address for a proxy beside a lab on `subnet` (a.b.c): a.b.<third>.1."""
    first, second, _ = subnet.split(".")
    address = f"{first}.{second}.{third}.1"
    with socket.socket() as probe:  # the address answers on loopback (127/8)
        probe.bind((address, 0))
    return address


def trust_proxy(known_hosts: Path, host: LabHost, address: str, port: int) -> None:
    """Add the host's key under the proxy's name, `[address]:port`, as ssh would look it up."""
    algorithm, blob = (host.sshd_dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    with known_hosts.open("a") as handle:
        handle.write(f"[{address}]:{port} {algorithm} {blob}\n")
