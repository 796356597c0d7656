"""The session layer in fake time: the link's retry policy, and a link cut at every step
of `fleet resume` and `fleet status` ending `disconnected` with the resume command."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from controller import fanout
from controller.options import EngineOptions
from controller.report.model import FleetReport, HostResult, HostStatus
from controller.report.problems import Problem
from controller.report.view import next_command
from controller.session.link import Disconnected, Link, LinkPolicy
from controller.transport.connector import CommandResult, ConnectError, LinkLost, OnData
from controller.transport.shell import PYTHON
from tests.unit.controller.fakes import RUNNER, FakeConnector, FakeHost, FakeTime, make_host

RUN_ID = "20260101T000000Z-abcdef"


def transient() -> ConnectError:
    return ConnectError("connection refused", problem=Problem.CONN_REFUSED, transient=True)


def link_to(fake: FakeHost, time_: FakeTime, **policy: float) -> Link:
    notes: list[str | None] = []
    return Link(
        fake.host,
        lambda host: FakeConnector(fake),
        asyncio.Semaphore(1),
        LinkPolicy(**policy),  # type: ignore[arg-type]
        time_.timing(),
        notes.append,
    )


# --- the retry policy -------------------------------------------------------------------


def test_transient_connect_failures_are_retried_with_jittered_backoff() -> None:
    """Two refusals, then a connection: two sleeps within [half, whole] of 0.5 s * 2^n."""
    fake = FakeHost(make_host("h"), connect_errors=[transient(), transient()])
    time_ = FakeTime()
    link = link_to(fake, time_)
    asyncio.run(link.connect())
    assert fake.connects == 3 and link.connections == 1
    assert len(time_.slept) == 2
    for attempt, slept in enumerate(time_.slept):
        full = 0.5 * 2**attempt
        assert full / 2 <= slept <= full


def test_connect_gives_up_after_its_attempts_and_at_once_when_not_transient() -> None:
    """Three attempts at most; a refused host key is never retried."""
    fake = FakeHost(make_host("h"), connect_errors=[transient() for _ in range(5)])
    with pytest.raises(ConnectError):
        asyncio.run(link_to(fake, FakeTime()).connect())
    assert fake.connects == 3
    key = ConnectError("unknown key", problem=Problem.HOST_KEY_UNKNOWN, transient=False)
    fake = FakeHost(make_host("h"), connect_errors=[key])
    time_ = FakeTime()
    with pytest.raises(ConnectError):
        asyncio.run(link_to(fake, time_).connect())
    assert fake.connects == 1 and time_.slept == []


def test_reconnect_gives_up_when_the_deadline_is_spent_in_fake_time() -> None:
    """A host that stays away: attempts until the one deadline is spent, then Disconnected."""
    fake = FakeHost(make_host("h"), link_down=True, stay_down=True)
    time_ = FakeTime()
    link = link_to(fake, time_, reconnect_timeout=30.0)
    started = time_.now
    with pytest.raises(Disconnected):
        asyncio.run(link.reconnect(progress=0))
    assert 30.0 <= time_.now - started <= 30.0 + 8.0
    assert fake.connects >= 3


def test_a_reconnect_that_gained_nothing_does_not_renew_the_deadline() -> None:
    """Same progress after a reconnection: a wait first, and the old deadline goes on."""
    fake = FakeHost(make_host("h"))
    time_ = FakeTime()
    link = link_to(fake, time_, reconnect_timeout=10.0)
    asyncio.run(link.reconnect(progress=5))
    assert time_.slept == []
    asyncio.run(link.reconnect(progress=5))
    assert len(time_.slept) == 1  # the futile reconnection waits
    time_.now += 20.0
    with pytest.raises(Disconnected):
        asyncio.run(link.reconnect(progress=5))
    asyncio.run(link.reconnect(progress=6))  # progress: a fresh deadline


# --- a link cut at every step ------------------------------------------------------------


@dataclass
class Steps:
    """Counts a host's connector calls; at call `cut_at` the link goes down for good."""

    cut_at: int | None = None
    calls: list[str] = field(default_factory=list)

    def step(self, fake: FakeHost, what: str) -> None:
        self.calls.append(what)
        if self.cut_at is not None and len(self.calls) - 1 == self.cut_at:
            fake.link_down = fake.stay_down = True
            if what != "connect":
                raise LinkLost(f"connection lost: cut at {what}")


class CuttingConnector(FakeConnector):
    def __init__(self, fake: FakeHost, steps: Steps) -> None:
        super().__init__(fake)
        self.steps = steps

    async def connect(self) -> None:
        self.steps.step(self.fake, "connect")
        await super().connect()

    async def run(
        self, command: str, stdin: bytes | None = None, on_stdout: OnData | None = None
    ) -> CommandResult:
        argv = getattr(command, "argv", ("sh", "?"))
        runner = argv[: len(PYTHON)] == PYTHON
        self.steps.step(self.fake, argv[len(PYTHON) + 1] if runner else argv[1])
        return await super().run(command, stdin, on_stdout)

    async def put(self, data: bytes, path: str, mode: int = 0o644) -> None:
        self.steps.step(self.fake, "put")
        await super().put(data, path, mode)

    async def symlink(self, target: str, path: str) -> None:
        self.steps.step(self.fake, "symlink")
        await super().symlink(target, path)

    async def get(self, path: str) -> bytes:
        self.steps.step(self.fake, "get")
        return await super().get(path)


def run_cut(fake: FakeHost, steps: Steps, command: str) -> tuple[HostResult, float]:
    time_ = FakeTime()
    options = EngineOptions(reconnect_timeout=30.0, resume=command == "resume")
    connectors = lambda host: CuttingConnector(fake, steps)  # noqa: E731
    started = time_.now
    report: FleetReport
    if command == "status":
        report = asyncio.run(
            fanout.status([fake.host], options, connectors=connectors, timing=time_.timing())
        )
    else:
        report = asyncio.run(
            fanout.deploy(
                [fake.host],
                options,
                run_id=RUN_ID,
                runner=RUNNER,
                connectors=connectors,
                timing=time_.timing(),
            )
        )
    return report.hosts[fake.host.name], time_.now - started


def resume_host(kind: str) -> FakeHost:
    fake = FakeHost(make_host("h"), runners=set() if kind == "upload" else {RUNNER_FILE})
    if kind == "attach":
        # A run still going: resume re-attaches and follows it.
        fake.running_run = RUN_ID
        fake.log = b"".join(
            line + b"\n"
            for line in (b'[STRUCT] {"event": "run_started", "run_id": "%s"}' % RUN_ID.encode(),)
        )
    else:
        fake.fail_service = "db"  # the run fails: its diagnostics are fetched
    return fake


RUNNER_FILE = f"fleet-runner-{RUNNER.sha256[:16]}.pyz"


def steps_of(kind: str, command: str) -> list[str]:
    """The steps an uncut run takes."""
    steps = Steps()
    fake = status_host() if command == "status" else resume_host(kind)
    result, _ = run_cut(fake, steps, command)
    assert result.status is not HostStatus.DISCONNECTED, result
    return steps.calls


def status_host() -> FakeHost:
    return FakeHost(make_host("h"))


@pytest.mark.parametrize(
    ("kind", "command"),
    [("attach", "resume"), ("start", "resume"), ("upload", "resume"), ("read", "status")],
)
def test_a_cut_at_any_step_ends_disconnected_with_the_resume_command(
    kind: str, command: str
) -> None:
    """Cut the link for good at step k, for every k: never an internal error, never
    failed; disconnected with `fleet resume` as its next command, in bounded fake time.
    (A cut at the very first connect is no drop: that host is unreachable.)"""
    calls = steps_of(kind, command)
    assert calls[0] == "connect" and len(calls) >= 2, calls
    wall = time.monotonic()
    for k, step in enumerate(calls):
        fake = status_host() if command == "status" else resume_host(kind)
        result, spent = run_cut(fake, Steps(cut_at=k), command)
        where = (kind, command, k, step, result.status, result.error)
        assert result.problem is not Problem.INTERNAL, where
        if k == 0:
            assert result.status is HostStatus.UNREACHABLE, where
            continue
        if step == "get":  # the diagnostics of a run that failed: the failure stands
            assert result.status is HostStatus.FAILED, where
            assert result.problem is Problem.STAGE_FAILED, where
            assert any("diagnostics" in w for w in result.warnings), where
        else:
            assert result.status is HostStatus.DISCONNECTED, where
            assert result.error is not None and "link lost" in result.error, where
        advice = next_command(result, "resume", None) or ""
        assert "fleet resume h" in advice, where
        assert spent <= 30.0 + 10.0 + 8.0, where  # one deadline, a connect, a backoff
    assert time.monotonic() - wall < 10.0


@dataclass
class GarbledHost(FakeHost):
    """A runner whose `status` prints something that is not JSON."""

    def runner(
        self, sub: str, args: list[str], stdin: bytes | None, on_stdout: OnData | None
    ) -> CommandResult:
        if sub == "status":
            return CommandResult(0, b"Have a lot of fun...\n", b"")
        return super().runner(sub, args, stdin, on_stdout)


def test_a_runner_answer_that_is_not_json_fails_the_host_with_that_cause() -> None:
    """resume asks the runner whether a run is going; nonsense is a cause, not a crash."""
    fake = GarbledHost(make_host("h"), runners={RUNNER_FILE})
    result, _ = run_cut(fake, Steps(), "resume")
    assert result.status is HostStatus.FAILED and result.problem is Problem.RUNNER_ERROR
    assert result.error is not None and "printed no JSON" in result.error


def test_a_read_that_drops_after_every_reconnect_ends_disconnected_within_the_deadline() -> None:
    """A flapping link (each reconnect works, each read is cut again): `retrying` does not
    loop; the host ends disconnected once the one reconnect deadline is spent."""
    from controller.session.host import HostSession, Runtime

    fake = FakeHost(make_host("h"))
    time_ = FakeTime()
    runtime = Runtime(
        runner=None,
        connectors=lambda host: FakeConnector(fake),
        handshakes=asyncio.Semaphore(1),
        policy=LinkPolicy(reconnect_timeout=10.0),
        timing=time_.timing(),
    )
    session = HostSession(fake.host, runtime)
    reads: list[int] = []

    async def cut_read() -> None:
        reads.append(1)
        raise LinkLost("connection lost", host="h")

    started = time_.now
    result = asyncio.run(session.guarded(lambda: session.retrying(cut_read)))
    assert result.status is HostStatus.DISCONNECTED
    assert "fleet resume" in (next_command(result, "status", None) or "")
    assert time_.now - started <= 10.0 + 8.0  # the deadline and at most one backoff cap
    assert 2 <= len(reads) <= 12
