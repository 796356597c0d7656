"""--until-done in fake time: which hosts are tried again, how often, how each try goes
on from the last, the waves around a waiting host, an interrupt, the views."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field

import pytest
from rich.console import Console

from controller import fanout
from controller.fanout.untildone import Backoff, UntilDone, retryable
from controller.options import Count, EngineOptions, RolloutOptions, parse_duration
from controller.report.events import Event
from controller.report.model import FleetReport, HostResult, HostStatus, ServiceState
from controller.report.problems import Problem
from controller.report.view import LiveView, PlainView, next_command, report_table
from controller.transport.connector import ConnectError
from tests.unit.controller.fakes import RUNNER, FakeFleet, FakeHost, FakeTime, make_host

RUN_ID = "20260101T000000Z-abcdef"


def timeout() -> ConnectError:
    return ConnectError("timed out", problem=Problem.CONN_TIMEOUT, transient=True)


@dataclass
class AwayHost(FakeHost):
    """A host whose link is dead until the fake clock reaches `back_at`."""

    time: FakeTime = field(default_factory=FakeTime)
    back_at: float = float("inf")
    connect_times: list[float] = field(default_factory=list)

    def connect(self) -> None:
        self.connect_times.append(self.time.now)
        if self.time.now < self.back_at:
            self.connects += 1
            raise timeout()
        self.stay_down = False
        super().connect()


def deploy(
    fakes: list[FakeHost],
    time: FakeTime,
    updates: list[tuple[HostResult, Event | None]] | None = None,
    **opts: object,
) -> FleetReport:
    options = EngineOptions(**opts)  # type: ignore[arg-type]

    def on_update(result: HostResult, event: Event | None) -> None:
        if updates is not None:
            updates.append((result, event))

    return asyncio.run(
        fanout.deploy(
            [f.host for f in fakes],
            options,
            run_id=RUN_ID,
            runner=RUNNER,
            connectors=FakeFleet(fakes),
            on_update=on_update,
            timing=time.timing(),
        )
    )


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200)])
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["90", "5d", "0s", "-1m", "", "1.5h", "m"])
def test_other_durations_are_refused_with_the_forms_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="90s, 30m, 12h"):
        parse_duration(text)


def test_backoff_grows_from_seconds_to_a_few_minutes_jittered() -> None:
    timing = FakeTime().timing()
    delays = [Backoff().delay(n, timing) for n in range(1, 12)]
    assert 2.5 <= delays[0] <= 5.0
    assert all(d <= 180.0 for d in delays) and max(delays) >= 90.0
    assert len(set(delays)) == len(delays)  # jittered: no two hosts in lockstep


def test_a_host_away_for_a_while_completes_on_a_later_try() -> None:
    """Unreachable, then back: completed within the run, `attempts` counted, every wait
    a backoff's, and its first try's settings kept (it was never reached)."""
    time = FakeTime()
    fake = AwayHost(make_host("lte"), time=time, back_at=time.now + 40)
    report = deploy([fake], time, until_done=600.0)
    result = report.hosts["lte"]
    assert result.status is HostStatus.COMPLETED
    assert result.attempts is not None and result.attempts >= 2
    assert result.to_json()["attempts"] == result.attempts
    assert not fake.resumed  # never reached before: the deploy starts fresh
    assert len(fake.plans) == 1
    waits = [g for g in result.gaps if g["cause"].startswith("waiting after try")]
    assert len(waits) == result.attempts - 1  # each wait is a gap on the HTML timeline


def test_a_host_that_stays_away_is_unreachable_at_the_deadline_with_its_attempts() -> None:
    time = FakeTime()
    started = time.now
    fake = AwayHost(make_host("lte"), time=time)
    report = deploy([fake], time, until_done=120.0)
    result = report.hosts["lte"]
    assert result.status is HostStatus.UNREACHABLE
    assert result.attempts is not None and result.attempts >= 4
    # No try starts after the deadline (a try's own connect retries stay within its
    # connect timeout), and no host is tried more often than the backoff allows.
    assert max(fake.connect_times) <= started + 120.0 + 10.0
    assert result.attempts <= 1 + 120 // Backoff().base * 2
    waits = [s for s in time.slept if s >= 2.5]
    assert len(waits) == result.attempts - 1 and sum(waits) <= 120.0
    nxt = next_command(result, "deploy", None)
    assert nxt is not None and "fleet resume lte" in nxt


def test_causes_time_cannot_mend_are_tried_once() -> None:
    err = ConnectError("host key changed", problem=Problem.HOST_KEY_CHANGED, transient=False)
    fake = FakeHost(make_host("h"), connect_errors=[err])
    report = deploy([fake], FakeTime(), until_done=600.0)
    result = report.hosts["h"]
    assert result.status is HostStatus.UNREACHABLE and result.attempts == 1
    assert fake.connects == 1


def test_a_failed_host_is_not_tried_again() -> None:
    fake = FakeHost(make_host("h"), fail_service="web")
    report = deploy([fake], FakeTime(), until_done=600.0)
    assert report.hosts["h"].status is HostStatus.FAILED
    assert report.hosts["h"].attempts == 1 and len(fake.plans) == 1


def test_only_unreachable_and_disconnected_are_retryable() -> None:
    result = HostResult(name="h", services={})
    for status in HostStatus:
        result.status, result.problem = status, Problem.CONN_TIMEOUT
        expected = status in (HostStatus.UNREACHABLE, HostStatus.DISCONNECTED)
        assert retryable(result) is expected, status


@dataclass
class CutHost(FakeHost):
    """A host whose link drops mid-run (FakeHost.drop_after) and stays away `away_s`."""

    time: FakeTime = field(default_factory=FakeTime)
    away_s: float = 30.0
    down_since: float | None = None

    def connect(self) -> None:
        self.connects += 1
        if self.link_down:
            self.down_since = self.time.now if self.down_since is None else self.down_since
            if self.time.now < self.down_since + self.away_s:
                raise timeout()
        self.link_down = False


def test_a_host_cut_mid_run_resumes_from_its_markers_on_the_next_try() -> None:
    """Disconnected (the link stayed away past --reconnect-timeout), then back: the next
    try that reaches it resumes (--resume: what completed is skipped), and completes."""
    time = FakeTime()
    cut = CutHost(make_host("lte"), time=time, drop_after=700)
    report = deploy([cut], time, until_done=600.0, reconnect_timeout=5.0)
    result = report.hosts["lte"]
    assert result.status is HostStatus.COMPLETED, result.error
    assert result.attempts is not None and result.attempts >= 2
    assert cut.resumed  # the try that reached it continued from the markers
    assert len(cut.plans) == 2 and result.connections == 2
    assert result.services == {"web": ServiceState.SKIPPED, "db": ServiceState.COMPLETED}


def test_waiting_host_does_not_hold_the_next_wave_when_the_budget_allows() -> None:
    time = FakeTime()
    away = AwayHost(make_host("a"), time=time)
    later = AwayHost(make_host("b"), time=time, back_at=0)
    rollout = RolloutOptions(batch=Count(1), max_fail=Count(1))
    report = deploy([away, later], time, until_done=300.0, rollout=rollout)
    assert report.hosts["b"].status is HostStatus.COMPLETED
    assert report.hosts["a"].status is HostStatus.UNREACHABLE
    assert later.connect_times[0] < max(away.connect_times)  # b ran while a waited


def test_waiting_host_holds_the_next_wave_when_the_budget_could_not_take_it() -> None:
    time = FakeTime()
    away = AwayHost(make_host("a"), time=time)
    later = AwayHost(make_host("b"), time=time, back_at=0)
    rollout = RolloutOptions(batch=Count(1), max_fail=Count(0))
    report = deploy([away, later], time, until_done=300.0, rollout=rollout)
    assert report.hosts["a"].status is HostStatus.UNREACHABLE
    assert report.hosts["b"].status is HostStatus.NOT_STARTED
    assert later.connect_times == []
    assert report.hosts["b"].attempts is None  # it never started: no tries to count
    assert report.rollout is not None and report.rollout.stopped


def test_each_wait_is_shown_as_waiting_and_said_once_in_plain_output() -> None:
    time = FakeTime()
    fake = AwayHost(make_host("lte"), time=time, back_at=time.now + 20)
    updates: list[tuple[HostResult, Event | None]] = []
    report = deploy([fake], time, updates, until_done=600.0)
    waits = [r for r, _ in updates if r.stage == "waiting"]
    attempts = report.hosts["lte"].attempts
    assert attempts is not None and len(waits) == attempts - 1
    assert all(r.status is HostStatus.RUNNING and "next try at" in (r.note or "") for r in waits)
    out = io.StringIO()
    view = PlainView(Console(file=out, width=200), clock=lambda: 0.0)
    for result, event in updates:
        view.on_update(result, event)
    lines = [line for line in out.getvalue().splitlines() if "next try at" in line]
    assert len(lines) == attempts - 1 and "try 1 ended unreachable" in lines[0]


def test_the_live_view_shows_a_waiting_row_with_the_next_try() -> None:
    time = FakeTime()
    fake = AwayHost(make_host("lte"), time=time, back_at=time.now + 20)
    updates: list[tuple[HostResult, Event | None]] = []
    deploy([fake], time, updates, until_done=600.0)
    live = LiveView(Console(file=io.StringIO(), width=250), [("lte", 2)], clock=lambda: 0.0)
    waiting = next(r for r, _ in updates if r.stage == "waiting")
    live.on_update(waiting, None)
    out = io.StringIO()
    Console(file=out, width=250).print(live.table())
    row = next(line for line in out.getvalue().splitlines() if "lte" in line)
    assert "waiting" in row and "next try at" in row


def test_the_report_shows_each_hosts_tries() -> None:
    time = FakeTime()
    fake = AwayHost(make_host("lte"), time=time, back_at=time.now + 20)
    report = deploy([fake], time, until_done=600.0)
    out = io.StringIO()
    Console(file=out, width=200).print(report_table(report))
    assert "tries" in out.getvalue()


def test_an_interrupt_ends_the_wait_at_once_with_the_result_as_it_stands() -> None:
    """A host waiting minutes for its next try: the interrupt ends the wait now; the
    host's result is its last try's (no further try, nothing sent to it)."""
    stalled: asyncio.Future[None] | None = None

    async def forever(_: float) -> None:
        nonlocal stalled
        stalled = asyncio.get_running_loop().create_future()
        await stalled

    time = FakeTime()
    timing = time.timing()
    timing.sleep = forever
    fake = AwayHost(make_host("lte"), time=time)
    tries: list[HostResult | None] = []

    async def main() -> HostResult:
        until = UntilDone(3600.0, timing)

        async def try_once(previous: HostResult | None) -> HostResult:
            tries.append(previous)
            result = HostResult(name="lte", services={}, status=HostStatus.UNREACHABLE)
            result.problem = Problem.CONN_TIMEOUT
            return result

        task = asyncio.ensure_future(until.run(fake.host, try_once, lambda _: None))
        while stalled is None:
            await asyncio.sleep(0)
        until.interrupt()
        return await asyncio.wait_for(task, 1.0)

    result = asyncio.run(main())
    assert result.status is HostStatus.UNREACHABLE and result.attempts == 1
    assert len(tries) == 1
