"""Everything fleet does for one host during one run, over that host's one connection.

A HostRun owns its HostResult; nothing in it is shared with other hosts except the
handshake semaphore and the (immutable) runtime settings.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from inventory import Host
from remote.protocol import INTERRUPTED, PLAN_VERSION, RUNNER_LINK, Exit, runner_name
from remote.status import parse_snapshot, status_from_snapshot

from .connectors import (
    CommandResult,
    ConnectError,
    Connector,
    ConnectorFactory,
    LinkLost,
    OnData,
)
from .deadline import ReconnectDeadline
from .errors import last_line, one_line
from .events import Event, apply, parse_line
from .framing import Frame
from .model import HostResult, HostStatus, Problem, ServiceState
from .options import DEFAULT_CONNECT_TIMEOUT, DEFAULT_RECONNECT_TIMEOUT
from .shell import NO_PYTHON, inline_input, runner_command, runner_path, status_command
from .transfer import TransferError

OnUpdate = Callable[[HostResult, Event | None], None]


class HostLog(Protocol):
    """Where a host's run log lines go on the controller (whole lines only)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class Recorder(Protocol):
    """The run record on the controller (store.RunRecorder implements it)."""

    def host_log(self, host: str) -> HostLog: ...

    def save_diagnostics(self, host: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Runner:
    """The runner archive's bytes and hash (built once per process)."""

    data: bytes
    sha256: str


@dataclass(frozen=True)
class RunSettings:
    """How hosts are run; the same for every host of one fleet run."""

    run_id: str
    resume: bool = False
    reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    connect_attempts: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    timeouts: dict[str, int] = field(default_factory=dict)
    rollback: bool = False
    rollback_to: str | None = None
    push_repo: str | None = None  # source: push: the local repo holding services/
    pull: str | None = None  # over every host's inventory `pull` for this run


@dataclass
class Runtime:
    """Shared services of one run, injected so tests can drive a run without a network."""

    runner: Runner | None  # deploy only: status runs plain sh
    connectors: ConnectorFactory
    handshakes: asyncio.Semaphore
    on_update: OnUpdate = lambda result, event: None
    recorder: Recorder | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)


class _Disconnected(Exception):
    """The host stayed away past --reconnect-timeout."""


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


def new_result(host: Host) -> HostResult:
    """A host's result before anything happened: every service pending."""
    return HostResult(name=host.name, services={svc: ServiceState.PENDING for svc in host.services})


class HostRun:
    """Deploy, resume or query one host; always returns its HostResult, never raises."""

    def __init__(self, host: Host, settings: RunSettings, runtime: Runtime) -> None:
        self.host = host
        self.settings = settings
        self.rt = runtime
        self.result = new_result(host)
        self.conn: Connector | None = None
        self._follow_run_id = settings.run_id
        self._ended = False  # the followed run's terminal line has arrived
        self._resume = settings.resume  # off when a push brought a new revision
        self._sink = runtime.recorder.host_log(host.name) if runtime.recorder else None
        self.reader = LineReader(self._on_line, self._sink)
        self._deadline = ReconnectDeadline(settings.reconnect_timeout, runtime.clock)
        self._futile = 0  # reconnections in a row after which nothing new arrived

    # --- public --------------------------------------------------------------------

    async def deploy(self) -> HostResult:
        """Start (or with resume: re-attach to or continue) the host's run and follow it."""
        return await self._guarded(self._deploy)

    async def status(self) -> HostResult:
        """Read where the host stands from the host itself."""
        return await self._guarded(self._status)

    async def session(self, body: Callable[[Connector], Awaitable[None]]) -> HostResult:
        """Connect as a deploy does (same retries, same reasons), hand the connection to
        body, close it; an unreachable host is data in the result (`fleet check`)."""

        async def connected() -> None:
            await self._connect_first()
            assert self.conn is not None
            await body(self.conn)

        return await self._guarded(connected)

    async def runner_streamed(self, args: Sequence[str], on_stdout: OnData) -> CommandResult:
        """A runner command on the open session, its stdout streamed (`fleet logs`)."""
        return await self._runner(args, on_stdout=on_stdout)

    # --- outline -------------------------------------------------------------------

    async def _guarded(self, body: Callable[[], Awaitable[None]]) -> HostResult:
        started = self.rt.clock()
        try:
            await body()
        except ConnectError as err:
            self._unreachable(err)
        except _Disconnected as err:
            self._disconnected(str(err))
        except TransferError as err:  # retrying cannot mend it: fail now, say what to do
            self._fail(err.problem, one_line(err.message))
        finally:
            self.result.duration_s = self.rt.clock() - started
            self.result.stage = self.result.service = self.result.note = None
            if self.conn is not None:
                await self.conn.close()
            if self._sink is not None:
                self._sink.close()
            self.rt.on_update(self.result, None)
        return self.result

    async def _deploy(self) -> None:
        await self._connect_first()
        if self.settings.resume and await self._attach_running():
            res = await self._follow_until_done()
        else:
            if self._pushes() and not await self._push():
                return
            res = await self._start_and_follow()
        self._conclude(res)
        if self.result.status is HostStatus.FAILED and self.result.diagnostics:
            await self._fetch_diagnostics(self.result.diagnostics)

    def _pushes(self) -> bool:
        """A push host gets the controller's tree, except in a rollback (offline, by design)."""
        return self.host.source == "push" and not self.settings.rollback

    async def _push(self) -> bool:
        """source: push: send the host's service folders before the run (controller/push.py).
        False when the host failed; a link lost mid-push leaves the host on the revision
        it has, which deploys (with a warning), as a failed git pull would."""
        from pathlib import Path

        from .push import PushError, push_source

        self._note("pushing services")
        repo = Path(self.settings.push_repo or ".")
        args = [*self._root_args(), "--repo", self.host.repo]
        try:
            outcome = await push_source(repo, self.host.services, args, self._runner)
        except PushError as err:
            self._fail(Problem.PUSH_FAILED, one_line(str(err)))
            return False
        except LinkLost as err:
            await self._reconnect()
            self.result.warnings.append(
                f"push cut by a lost link ({err}): deploying the revision already on the "
                f"host; `fleet resume {self.host.name}` sends the rest"
            )
            return True
        self.result.push = outcome.meta()
        if outcome.moved_aside:
            self.result.warnings.append(
                f"push: the old repo folder was moved to {outcome.moved_aside}"
            )
        # A new revision is not what the markers were written for: run it fresh.
        self._resume = self._resume and not outcome.switched
        self._note(None)
        return True

    async def _status(self) -> None:
        """Read the host's state files with plain sh (nothing uploaded, no Python)."""
        await self._connect_first()
        assert self.conn is not None
        res = await self._framed(status_command(self.host.root), end=True)
        if res.exit_status != 0:
            detail = one_line(res.stderr.decode(errors="replace")) or "no message"
            self._fail(Problem.SSH_ERROR, f"reading the state failed ({res.exit_status}): {detail}")
            return
        snapshot = parse_snapshot(res.stdout.decode(errors="replace"))
        apply_status(self.result, status_from_snapshot(self.host.root, snapshot))

    # --- connecting ----------------------------------------------------------------

    async def _open(self, timeout: float | None = None) -> None:
        if self.conn is not None:
            await self.conn.close()
        self.conn = self.rt.connectors(self.host)
        # Handshakes are bounded apart from running hosts (OpenSSH MaxStartups 10).
        async with self.rt.handshakes:
            if timeout is None:
                await self.conn.connect()
            else:
                await asyncio.wait_for(self.conn.connect(), timeout)
        self.result.connections += 1

    def _backoff(self, attempt: int) -> float:
        delay = min(self.settings.backoff_cap, self.settings.backoff_base * float(2**attempt))
        jitter: float = 0.5 + self.rt.rng.random() / 2
        return delay * jitter

    async def _connect_first(self) -> None:
        """Connect, retrying only transient failures, a few times within a bound."""
        started = self.rt.clock()
        for attempt in range(self.settings.connect_attempts):
            try:
                await self._open()
                return
            except ConnectError as err:
                spent = self.rt.clock() - started
                last = attempt + 1 >= self.settings.connect_attempts
                if not err.transient or last or spent >= self.settings.connect_timeout:
                    raise
                self._note(f"retrying connect: {err}")
                await self.rt.sleep(self._backoff(attempt))

    async def _reconnect(self) -> None:
        """After a drop: reconnect with jittered backoff within the host's one deadline
        (a reconnection that gained nothing before the next drop does not renew it)."""
        fresh = self._deadline.link_lost(self.reader.offset)
        attempt = 0
        if not fresh:
            # The last reconnection gained nothing: wait before the next, as after a
            # failed connect, so a step that fails at once cannot spin.
            self._futile += 1
            await self.rt.sleep(min(self._backoff(self._futile), self._deadline.remaining()))
        else:
            self._futile = 0
        while True:
            remaining = self._deadline.remaining()
            if remaining <= 0 and not (fresh and attempt == 0):
                raise _Disconnected("the same step failed again after each reconnect")
            self._note(f"link lost; reconnecting (attempt {attempt + 1})")
            try:
                await self._open(timeout=max(1.0, min(self.settings.connect_timeout, remaining)))
                self._note(None)
                return
            except (ConnectError, TimeoutError) as err:
                remaining = self._deadline.remaining()
                if remaining <= 0 or (isinstance(err, ConnectError) and not err.transient):
                    raise _Disconnected(str(err)) from err
                await self.rt.sleep(min(self._backoff(attempt), remaining))
                attempt += 1

    # --- the runner ----------------------------------------------------------------

    def _plan(self) -> bytes:
        plan: dict[str, Any] = {
            "version": PLAN_VERSION,
            "host": self.host.name,
            "run_id": self.settings.run_id,
            "root": self.host.root,
            "repo": self.host.repo,
            "services": list(self.host.services),
            "compose_command": list(self.host.compose_command),
            "pull": self.settings.pull or self.host.pull,
            "source": self.host.source,
            "kind": "resume" if self.settings.resume else "deploy",
            "become": self.host.become,
        }
        if self.settings.timeouts:
            plan["timeouts"] = dict(self.settings.timeouts)
        if self.settings.rollback:
            plan["kind"] = "rollback"
            if self.settings.rollback_to:
                plan["rollback_to"] = self.settings.rollback_to
        return json.dumps(plan).encode()

    async def _runner(
        self,
        args: Sequence[str],
        stdin: bytes | None = None,
        stream: bool = False,
        on_stdout: OnData | None = None,
        json_input: bool = False,
    ) -> CommandResult:
        """Run a runner command through the guard; upload the archive on exit 97. Its
        stdout goes to the run's reader (stream), or to on_stdout (`fleet logs`).
        `json_input`: stdin is one JSON document (a plan), which a here-document's final
        newline leaves as it is, so it may ride inside the command (shell.inline_input);
        other input (a push manifest, whose bytes name a revision) stays on stdin."""
        assert self.conn is not None and self.rt.runner is not None
        inline = json_input and inline_input(stdin)
        command = runner_command(
            self.host.root, self.rt.runner.sha256, args, stdin if inline else None
        )
        stdin = None if inline else stdin
        on_stdout = self.reader.feed if stream else on_stdout
        res = await self._framed(command, stdin, on_stdout)
        if res.exit_status == Exit.NO_RUNNER:
            await self._upload_runner()
            res = await self._framed(command, stdin, on_stdout)
        return res

    async def _framed(
        self,
        command: str,
        stdin: bytes | None = None,
        on_stdout: Callable[[bytes], None] | None = None,
        end: bool = False,
    ) -> CommandResult:
        """Run a command whose output is parsed: only what it printed after its frame's
        begin line counts, so a login banner on stdout or stderr never reaches a parser."""
        assert self.conn is not None
        frame = Frame()
        sink = frame.stream(on_stdout) if on_stdout is not None else None
        res = await self.conn.run(frame.wrap(command, end=end), stdin, sink)
        return CommandResult(res.exit_status, frame.inner(res.stdout), frame.inner(res.stderr))

    async def _upload_runner(self) -> None:
        assert self.conn is not None and self.rt.runner is not None
        self._note("uploading runner")
        runner = self.rt.runner
        await self.conn.put(runner.data, runner_path(self.host.root, runner.sha256))
        link = f"{self.host.root.rstrip('/')}/{RUNNER_LINK}"
        await self.conn.symlink(runner_name(runner.sha256), link)
        self.result.runner_bytes_uploaded += len(runner.data)
        self._note(None)

    def _root_args(self) -> list[str]:
        return ["--root", self.host.root]

    async def _start_and_follow(self) -> CommandResult:
        args = ["start", *self._root_args()]
        if self._resume:
            args.append("--resume")
        args += ["--plan", "-"]
        try:
            res = await self._runner(args, self._plan(), stream=True, json_input=True)
        except LinkLost as err:
            self._note(f"link lost while starting: {err}")
            await self._reconnect()
            return await self._follow_until_done()
        if res.exit_status in (Exit.OK, Exit.FAILED) and self.result.log and not self._ended:
            # The run could not echo all of its log (a stalled pipe): read the rest.
            return await self._follow_until_done()
        return res

    async def _attach_running(self) -> bool:
        """On resume: is a run still going on the host? Then follow it from byte 0."""
        res = await self._runner(["status", *self._root_args()])
        if res.exit_status != Exit.OK:
            return False
        running = json.loads(res.stdout or b"{}").get("running")
        if not isinstance(running, dict) or not running.get("log"):
            return False
        self._follow_run_id = str(running.get("run_id") or self.settings.run_id)
        self.result.log = str(running["log"])
        self._note(f"re-attached to run {self._follow_run_id}")
        return True

    async def _find_log(self) -> bool:
        """After a drop before run_started arrived: learn the log path from the host."""
        res = await self._runner(["status", *self._root_args()])
        if res.exit_status != Exit.OK:
            return False
        data = json.loads(res.stdout or b"{}")
        for key in ("running", "last_run"):
            run = data.get(key)
            if (
                isinstance(run, dict)
                and run.get("run_id") == self._follow_run_id
                and run.get("log")
            ):
                self.result.log = str(run["log"])
                return True
        return False

    async def _follow_until_done(self) -> CommandResult:
        """Follow the run's log from the last whole line seen, reconnecting on drops."""
        while True:
            # What comes next (follow --offset, or a fresh start) sends an unfinished
            # line again whole.
            self.reader.drop_partial()
            try:
                if self.result.log is None and not await self._find_log():
                    # The start never reached the host: start it now, same run id.
                    return await self._start_and_follow()
                assert self.result.log is not None
                args = ["follow", *self._root_args(), "--log", self.result.log]
                args += ["--offset", str(self.reader.offset), "--run-id", self._follow_run_id]
                return await self._runner(args, stream=True)
            except LinkLost as err:
                self._note(f"link lost while following: {err}")
                await self._reconnect()

    # --- outcome -------------------------------------------------------------------

    def _on_line(self, line: bytes) -> None:
        event = parse_line(line)
        if event is None:
            return
        if event.terminal and event.run_id == self._follow_run_id:
            self._ended = True
        apply(self.result, event)
        self.rt.on_update(self.result, event)

    def _conclude(self, res: CommandResult) -> None:
        code = res.exit_status
        result = self.result
        if code == Exit.OK:
            apply(result, Event(event="run_completed"))
        elif code == Exit.FAILED:
            if result.status is not HostStatus.FAILED and result.log is None:
                # The forked run died before opening its log; its last stderr line says why
                # (`fleet-runner: <reason>`, after any traceback).
                why = last_line(res.stderr.decode(errors="replace")) or "the run did not start"
                self._fail(Problem.RUNNER_ERROR, why)
            elif result.status is not HostStatus.FAILED:
                apply(result, Event(event="run_failed"))
        elif code == Exit.LOCKED:
            if result.problem is not Problem.REFUSED_LOCKED:
                apply(result, Event(event="run_failed", status="refused"))
        elif code == Exit.VANISHED:
            self._fail(
                Problem.RUN_VANISHED,
                "the run stopped before finishing (runner killed or host restarted)",
            )
        else:
            self._runner_trouble(res)

    def _runner_trouble(self, res: CommandResult) -> None:
        stderr = res.stderr.decode(errors="replace")
        if res.exit_status == NO_PYTHON:
            self._fail(Problem.NO_PYTHON, "python3 not found on host (the runner needs >= 3.8)")
        elif res.exit_status == Exit.OLD_PYTHON:
            msg = one_line(stderr) or "python3 on the host is older than 3.8"
            self._fail(Problem.OLD_PYTHON, msg)
        elif res.exit_status == Exit.NO_RUNNER:
            self._fail(Problem.RUNNER_ERROR, "runner upload did not take (still missing)")
        else:
            detail = one_line(stderr) or "no message"
            self._fail(Problem.RUNNER_ERROR, f"runner exited {res.exit_status}: {detail}")

    def _fail(self, problem: Problem, message: str) -> None:
        self.result.status = HostStatus.FAILED
        self.result.problem = problem
        self.result.error = message

    def _unreachable(self, err: ConnectError) -> None:
        self.result.status = HostStatus.UNREACHABLE
        self.result.problem = err.problem
        self.result.error = one_line(str(err))

    def _disconnected(self, why: str) -> None:
        result = self.result
        result.status = HostStatus.DISCONNECTED
        result.problem = Problem.LINK_LOST
        where = f" during {result.stage or result.last_stage}" if result.last_stage else ""
        timeout = self.settings.reconnect_timeout
        result.error = one_line(
            f"link lost{where}; not back within {timeout:g} s ({why}); "
            "the run goes on on the host by itself"
        )

    async def _fetch_diagnostics(self, path: str) -> None:
        assert self.conn is not None
        try:
            text = (await self.conn.get(path)).decode(errors="replace")
        except (LinkLost, TransferError) as err:
            self.result.warnings.append(f"could not fetch diagnostics: {err}")
            return
        self.result.diagnostics_text = text
        if self.rt.recorder is not None:
            self.rt.recorder.save_diagnostics(self.host.name, text)

    def _note(self, note: str | None) -> None:
        self.result.note = note
        if note is not None:
            self.result.notes.append(note)
        self.rt.on_update(self.result, None)


def apply_status(result: HostResult, data: dict[str, Any]) -> None:
    """Fill a host's result from the runner's `status` JSON (internals.md)."""
    last = data.get("last_run") if isinstance(data.get("last_run"), dict) else None
    running = data.get("running") if isinstance(data.get("running"), dict) else None
    result.last_stage = data.get("current_stage")
    result.last_service = data.get("last_service")
    if last is not None:
        for svc, state in (last.get("services") or {}).items():
            if svc in result.services or state != ServiceState.PENDING.value:
                result.services[svc] = ServiceState(state)
        result.last_stage = last.get("last_stage") or result.last_stage
        result.failed_stage = last.get("failed_stage")
        result.log = last.get("log")
        result.diagnostics = last.get("diagnostics")
        result.error = last.get("error")
    if running is not None:
        result.status = HostStatus.RUNNING
        result.log = running.get("log") or result.log
        result.error = None
        result.failed_stage = None
        return
    state = last.get("status") if last is not None else None
    if state == "completed":
        result.status = HostStatus.COMPLETED
    elif state == "failed":
        result.status = HostStatus.FAILED
        result.problem = Problem.STAGE_FAILED
    elif state == INTERRUPTED:
        result.status = HostStatus.FAILED
        result.problem = Problem.RUN_VANISHED
        result.error = "the last run stopped before finishing (runner killed or host restarted)"
    else:
        result.status = HostStatus.FAILED
        result.problem = Problem.NEVER_DEPLOYED
        result.error = "never deployed by fleet"
