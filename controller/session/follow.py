"""Following a run on the host: start it and read its log as it grows, re-attach to a
run still going (resume), find the log after a drop, follow until the run is done.

Every byte of the log passes one LineReader: whole lines go to the run's record on the
controller and, when they are [STRUCT] events, into the host's result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from controller.report.events import Event, apply, parse_line
from controller.report.model import HostResult
from controller.session.channel import Channel, answer_json
from controller.session.link import Note
from controller.transport.connector import CommandResult, LinkLost
from remote.protocol import ROLLBACK_SUFFIX, Exit


class HostLog(Protocol):
    """Where a host's run log lines go on the controller (whole lines only)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


OnEvent = Callable[[HostResult, Event | None], None]


class LineReader:
    """Splits streamed bytes into lines; `offset` counts the bytes of whole lines seen."""

    def __init__(self, on_line: Callable[[bytes], None], sink: HostLog | None) -> None:
        self.offset = 0
        self._partial = b""
        self._on_line = on_line
        self._sink = sink

    def feed(self, chunk: bytes) -> None:
        """Take a chunk; act on each complete line, keep the unfinished tail."""
        cut = chunk.rfind(b"\n")
        if cut < 0:
            self._partial += chunk
            return
        data = self._partial + chunk[: cut + 1]
        self._partial = chunk[cut + 1 :]
        self.offset += len(data)
        if self._sink is not None:
            self._sink.write(data)
        for line in data.splitlines():
            self._on_line(line)

    def drop_partial(self) -> None:
        """Forget an unfinished line: `follow --offset` sends it again whole."""
        self._partial = b""


class Follower:
    """One host's run as the controller follows it, across drops of the link."""

    def __init__(
        self,
        channel: Channel,
        result: HostResult,
        run_id: str,
        on_event: OnEvent,
        sink: HostLog | None,
        note: Note,
    ) -> None:
        self.channel = channel
        self.result = result
        self.run_id = run_id  # the followed run's (a re-attached run's own)
        self.ended = False  # the followed run's terminal line has arrived
        self.reader = LineReader(self._on_line, sink)
        self._on_event = on_event
        self._note = note
        self._start: tuple[list[str], bytes, bool] | None = None

    async def reconnect(self, cause: str = "link lost") -> None:
        """Open the link again; what was read of the log is the progress that counts."""
        await self.channel.link.reconnect(self.reader.offset, cause)

    async def start_and_follow(
        self, args: Sequence[str], job: bytes, *, private: bool = False
    ) -> CommandResult:
        """Start the run (runner `start ARGS` with the job) and follow it to its end.
        `private`: the job holds secrets, so it goes on stdin, never inside the command
        line (which the host's process list shows)."""
        self._start = (list(args), job, private)
        try:
            res = await self.channel.runner(args, job, self.reader.feed, json_input=not private)
        except LinkLost as err:
            self._note(f"link lost while starting: {err}")
            await self.reconnect(f"link lost while starting: {err}")
            return await self.follow_until_done()
        if res.exit_status in (Exit.OK, Exit.FAILED) and self.result.log and not self.ended:
            # The run could not echo all of its log (a stalled pipe): read the rest.
            return await self.follow_until_done()
        return res

    async def attach_running(self) -> bool:
        """On resume: is a run still going on the host? Then follow it from byte 0."""
        data = await self._status()
        if data is None:
            return False
        running = data.get("running")
        if not isinstance(running, dict) or not running.get("log"):
            return False
        self.run_id = str(running.get("run_id") or self.run_id)
        self.result.log = str(running["log"])
        self._note(f"re-attached to run {self.run_id}")
        return True

    async def follow_until_done(self) -> CommandResult:
        """Follow the run's log from the last whole line seen, reconnecting on drops."""
        while True:
            # What comes next (follow --offset, or a fresh start) sends an unfinished
            # line again whole.
            self.reader.drop_partial()
            try:
                if self.result.log is None and not await self._find_log():
                    # The start never reached the host: start it now, same run id.
                    assert self._start is not None, "no run to follow and none to start"
                    args, job, private = self._start
                    return await self.start_and_follow(args, job, private=private)
                assert self.result.log is not None
                args = ["follow", "--root", self.channel.root, "--log", self.result.log]
                args += ["--offset", str(self.reader.offset), "--run-id", self.run_id]
                return await self.channel.runner(args, on_stdout=self.reader.feed)
            except LinkLost as err:
                self._note(f"link lost while following: {err}")
                await self.reconnect(f"link lost while following: {err}")

    async def _find_log(self) -> bool:
        """After a drop before run_started arrived: learn the log path from the host."""
        data = await self._status()
        if data is None:
            return False
        # Or the rollback of this run (on_failure), which goes on in the same log.
        ours = (self.run_id, self.run_id + ROLLBACK_SUFFIX)
        for key in ("running", "last_run"):
            run = data.get(key)
            if isinstance(run, dict) and run.get("run_id") in ours and run.get("log"):
                self.result.log = str(run["log"])
                return True
        return False

    async def _status(self) -> dict[str, object] | None:
        """The runner's `status` JSON; None when the runner could not say."""
        res = await self.channel.runner(["status", "--root", self.channel.root])
        if res.exit_status != Exit.OK:
            return None
        return answer_json(res, "status")

    def _on_line(self, line: bytes) -> None:
        event = parse_line(line)
        if event is None:
            return
        if event.terminal and event.run_id == self.run_id:
            if event.rollback_run:  # the same log goes on with the rollback (on_failure)
                self.run_id = event.rollback_run
            else:
                self.ended = True
        apply(self.result, event)
        self._on_event(self.result, event)
