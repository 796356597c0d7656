"""One host's session: its link, its channel, its result, and the one guard around
whatever a feature does with them.

The guard turns every way a host can be lost into data in its HostResult, never into an
exception: no connection is `unreachable`; a link that the reconnect deadline could not
mend (wherever it dropped) is `disconnected`, whose next command is `fleet resume`; a
file that cannot be written or read, or a runner answer that is not JSON, is `failed`
with its cause. A HostSession owns its HostResult; nothing in it is shared with other
hosts except the handshake semaphore and the (immutable) runtime settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from controller.errors import one_line
from controller.options import EngineOptions
from controller.report.events import Event
from controller.report.model import HostResult
from controller.report.problems import Problem
from controller.session import outcome
from controller.session.channel import BadAnswer, Channel, Runner
from controller.session.follow import Follower, HostLog
from controller.session.link import Disconnected, Link, LinkPolicy, Timing
from controller.transport.connector import ConnectError, ConnectorFactory, LinkLost
from controller.transport.transfer import TransferError
from inventory import Host

OnUpdate = Callable[[HostResult, Event | None], None]
T = TypeVar("T")


class Recorder(Protocol):
    """The run record on the controller (report/store.RunRecorder implements it)."""

    def host_log(self, host: str) -> HostLog: ...

    def save_diagnostics(self, host: str, text: str) -> None: ...


def _no_update(result: HostResult, event: Event | None) -> None:
    return None


@dataclass
class Runtime:
    """What every host session of one command shares, injected so tests can drive hosts
    without a network (and in fake time)."""

    runner: Runner | None  # deploy and plan: status, check, releases and logs run plain sh
    connectors: ConnectorFactory
    handshakes: asyncio.Semaphore
    policy: LinkPolicy = field(default_factory=LinkPolicy)
    on_update: OnUpdate = _no_update
    recorder: Recorder | None = None
    timing: Timing = field(default_factory=Timing)


def runtime_for(
    options: EngineOptions,
    runner: Runner | None = None,
    connectors: ConnectorFactory | None = None,
    recorder: Recorder | None = None,
    timing: Timing | None = None,
) -> Runtime:
    """The runtime of one command from its options (every command that reaches hosts)."""
    if connectors is None:
        from controller.transport.factory import ConnectorFactoryImpl

        connectors = ConnectorFactoryImpl(options.connect)
    policy = LinkPolicy(
        connect_timeout=options.connect.connect_timeout,
        reconnect_timeout=options.reconnect_timeout,
    )
    return Runtime(
        runner=runner,
        connectors=connectors,
        handshakes=asyncio.Semaphore(options.handshakes),
        policy=policy,
        recorder=recorder,
        timing=timing or Timing(),
    )


class HostSession:
    """One host, one connection, one result; `guarded` runs a feature's body on them."""

    def __init__(self, host: Host, runtime: Runtime, result: HostResult | None = None) -> None:
        self.host = host
        self.rt = runtime
        self.result = result if result is not None else outcome.new_result(host)
        self.link = Link(
            host, runtime.connectors, runtime.handshakes, runtime.policy, runtime.timing, self.note
        )
        self.channel = Channel(self.link, host.root, runtime.runner, self.note)
        self.sink = runtime.recorder.host_log(host.name) if runtime.recorder else None

    async def guarded(self, body: Callable[[], Awaitable[None]]) -> HostResult:
        """Connect, run body, close; whatever happened is in the returned result."""
        clock = self.rt.timing.clock
        started = clock()
        try:
            await self.link.connect()
            await body()
        except ConnectError as err:
            outcome.unreachable(self.result, err)
        except Disconnected as err:
            self._disconnected(str(err))
        except LinkLost as err:  # a step that does not reconnect by itself
            self._disconnected(str(err))
        except TransferError as err:  # retrying cannot mend it: fail now, say what to do
            outcome.fail(self.result, err.problem, one_line(err.message))
        except BadAnswer as err:
            outcome.fail(self.result, Problem.RUNNER_ERROR, one_line(str(err)))
        finally:
            await self._finish(clock() - started)
        return self.result

    async def failed_before_contact(self, problem: Problem, message: str, stage: str) -> HostResult:
        """The controller could not make the host's job (a secret it cannot decrypt): the
        host fails in `stage` without being contacted, nothing on it changed."""
        outcome.fail(self.result, problem, message)
        self.result.failed_stage = self.result.last_stage = stage
        await self._finish(0.0)
        return self.result

    async def retrying(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run a step that changes nothing on the host (a read), again after each drop,
        for as long as the reconnect deadline allows (then Disconnected)."""
        while True:
            try:
                return await step()
            except LinkLost as err:
                self.note(f"link lost: {err}")
                await self.link.reconnect(0, f"link lost: {err}")

    def follower(self, run_id: str) -> Follower:
        """Following a run of this host, its lines into this result and the record."""
        return Follower(self.channel, self.result, run_id, self.rt.on_update, self.sink, self.note)

    async def fetch_diagnostics(self, path: str) -> None:
        """The failed run's diagnostics file, into the result and the record; a link that
        stays away or a file that cannot be read is a warning: the run's outcome stands."""
        try:
            data = await self.retrying(lambda: self.channel.get(path))  # a read: ask again
        except (Disconnected, TransferError) as err:
            self.result.warnings.append(f"could not fetch diagnostics: {err}")
            return
        text = data.decode(errors="replace")
        self.result.diagnostics_text = text
        if self.rt.recorder is not None:
            self.rt.recorder.save_diagnostics(self.host.name, text)

    def note(self, note: str | None) -> None:
        """What the host is doing besides its stages (retrying, uploading); kept."""
        self.result.note = note
        if note is not None:
            self.result.notes.append(note)
        self.rt.on_update(self.result, None)

    def _disconnected(self, why: str) -> None:
        outcome.disconnected(self.result, why, self.rt.policy.reconnect_timeout)

    async def _finish(self, duration: float) -> None:
        result = self.result
        result.duration_s = duration
        result.stage = result.service = result.note = None
        result.connections = self.link.connections
        result.gaps = list(self.link.gaps)
        result.runner_bytes_uploaded = self.channel.runner_bytes_uploaded
        await self.link.close()
        if self.sink is not None:
            self.sink.close()
        self.rt.on_update(result, None)
