"""The engine against fake hosts: outcomes, reconnects, refusals, the JSON shape."""

from __future__ import annotations

import asyncio
import io

import pytest

from controller import fanout
from controller.options import ConnectOptions, EngineOptions
from controller.report.model import FleetReport, HostStatus
from controller.report.problems import Problem
from controller.transport.connector import ConnectError
from tests.design import HOST_KEYS
from tests.unit.controller.fakes import (
    LOCK_STARTED,
    RUNNER,
    FakeFleet,
    FakeHost,
    FakeTime,
    make_host,
    run_log,
)


def deploy(fakes: list[FakeHost], **opts: object) -> FleetReport:
    options = EngineOptions(**opts)  # type: ignore[arg-type]
    hosts = [f.host for f in fakes]
    return asyncio.run(
        fanout.deploy(
            hosts,
            options,
            run_id="20260101T000000Z-abcdef",
            runner=RUNNER,
            connectors=FakeFleet(fakes),
            timing=FakeTime().timing(),  # reconnect deadlines in fake time: no real sleeps
        )
    )


class Logs:
    """An in-memory recorder."""

    def __init__(self) -> None:
        self.logs: dict[str, io.BytesIO] = {}
        self.diagnostics: dict[str, str] = {}

    def host_log(self, host: str) -> io.BytesIO:
        self.logs[host] = _Log()
        return self.logs[host]

    def save_diagnostics(self, host: str, text: str) -> None:
        self.diagnostics[host] = text


class _Log(io.BytesIO):
    def close(self) -> None:  # keep the bytes readable after the run
        pass


def test_all_hosts_complete_with_one_connection_each() -> None:
    """Every host completes over exactly one connection; the runner goes up once each."""
    fakes = [FakeHost(make_host(f"h{i}")) for i in range(5)]
    report = deploy(fakes)
    assert report.completed
    for fake in fakes:
        result = report.hosts[fake.host.name]
        assert result.status is HostStatus.COMPLETED
        assert result.connections == 1 and fake.connects == 1
        assert result.runner_bytes_uploaded == len(RUNNER.data)
        assert result.services_done == 2
        assert result.last_stage == "complete" and result.last_service == "db"


def test_unchanged_runner_is_not_uploaded() -> None:
    """A host that already has this runner hash gets no runner bytes."""
    fake = FakeHost(make_host("h"), runners={f"fleet-runner-{RUNNER.sha256[:16]}.pyz"})
    report = deploy([fake])
    assert report.hosts["h"].runner_bytes_uploaded == 0
    assert fake.files == {}


def test_plan_goes_on_stdin_with_run_id() -> None:
    """The plan carries the host's services, root, compose command and the run id."""
    fake = FakeHost(make_host("h"))
    deploy([fake])
    plan = fake.plans[0]
    assert plan["run_id"] == "20260101T000000Z-abcdef"
    assert plan["services"] == ["web", "db"] and plan["version"] == 1
    assert plan["compose_command"] == ["docker", "compose"] and plan["root"] == "/opt/homelab"


def test_pull_option_overrides_the_inventory_for_the_run() -> None:
    """--pull never reaches every host's plan over its inventory `pull`; unset, the host's own."""
    fake = FakeHost(make_host("h"))
    deploy([fake])
    deploy([fake], pull="never")
    assert [plan["pull"] for plan in fake.plans] == ["missing", "never"]


def test_json_shape_is_exactly_design() -> None:
    """--json has exactly DESIGN.md's keys at both levels."""
    report = deploy([FakeHost(make_host("a")), FakeHost(make_host("b"), fail_service="db")])
    data = report.to_json()
    assert set(data) == {"run_id", "status", "hosts"}
    assert data["status"] == "failed"
    for entry in data["hosts"].values():
        assert set(entry) == HOST_KEYS
        assert isinstance(entry["duration_s"], float)
    assert data["hosts"]["a"]["services"] == {"web": "completed", "db": "completed"}
    assert data["hosts"]["b"]["services"] == {"web": "completed", "db": "failed"}


def test_failed_service_reports_stage_service_and_diagnostics() -> None:
    """A failing service: host failed at deploy/db, diagnostics path and text kept."""
    fakes = [FakeHost(make_host("ok")), FakeHost(make_host("bad"), fail_service="db")]
    logs = Logs()
    report = asyncio.run(
        fanout.deploy(
            [f.host for f in fakes],
            EngineOptions(),
            runner=RUNNER,
            connectors=FakeFleet(fakes),
            recorder=logs,
        )
    )
    bad = report.hosts["bad"]
    assert report.hosts["ok"].status is HostStatus.COMPLETED
    assert bad.status is HostStatus.FAILED and bad.problem is Problem.STAGE_FAILED
    assert bad.failed_stage == "deploy" and bad.failed_service == "db"
    assert bad.diagnostics is not None and bad.diagnostics.endswith(".txt")
    assert bad.error is not None and "db" in bad.error and "deploy" in bad.error
    assert "boom" in logs.diagnostics["bad"]
    assert not report.completed


def test_drop_mid_run_reattaches_from_offset_without_losing_or_repeating_lines() -> None:
    """A dropped link: reconnect, follow from the last whole line; the log is intact."""
    fake = FakeHost(make_host("lte"), drop_after=700)
    logs = Logs()
    report = asyncio.run(
        fanout.deploy(
            [fake.host],
            EngineOptions(reconnect_timeout=5),
            runner=RUNNER,
            connectors=FakeFleet([fake]),
            recorder=logs,
        )
    )
    result = report.hosts["lte"]
    assert result.status is HostStatus.COMPLETED
    assert result.connections == 2
    assert logs.logs["lte"].getvalue() == fake.log
    assert any(" follow " in c and "--offset" in c for c in fake.commands)


def test_host_that_stays_away_is_disconnected_not_failed() -> None:
    """Past --reconnect-timeout the host is `disconnected`, with where it was."""
    fakes = [
        FakeHost(make_host("lte"), drop_after=700, stay_down=True),
        FakeHost(make_host("nas")),
    ]
    report = deploy(fakes, reconnect_timeout=0.3)
    lte = report.hosts["lte"]
    assert lte.status is HostStatus.DISCONNECTED
    assert lte.error is not None and "link lost" in lte.error
    assert lte.last_stage is not None
    assert report.hosts["nas"].status is HostStatus.COMPLETED


def test_lock_refusal_names_the_holder() -> None:
    """A host locked by another run: failed, error names that run id."""
    fake = FakeHost(make_host("h"), locked_by="20260101T000000Z-111111")
    report = deploy([fake])
    result = report.hosts["h"]
    assert result.status is HostStatus.FAILED and result.problem is Problem.REFUSED_LOCKED
    assert result.error is not None and "20260101T000000Z-111111" in result.error
    holder = f"run 20260101T000000Z-111111 (pid 42, started {LOCK_STARTED})"
    assert result.error == f"refused: this host is busy: {holder} holds its lock"
    assert len(fake.plans) == 1  # a refusal is final: start is not tried again


def test_auth_failure_is_not_retried() -> None:
    """Auth errors are unreachable at once: one connect attempt."""
    err = ConnectError("authentication failed", problem=Problem.AUTH_FAILED, transient=False)
    fake = FakeHost(make_host("h"), connect_errors=[err])
    report = deploy([fake])
    assert report.hosts["h"].status is HostStatus.UNREACHABLE
    assert report.hosts["h"].problem is Problem.AUTH_FAILED
    assert fake.connects == 1


def test_refused_connect_is_retried_a_bounded_few_times() -> None:
    """Connection refused is transient: retried, then unreachable with the reason."""
    errs = [
        ConnectError("connection refused by x:22", problem=Problem.CONN_REFUSED, transient=True)
        for _ in range(5)
    ]
    fake = FakeHost(make_host("h"), connect_errors=errs)
    report = deploy([fake], connect=ConnectOptions(connect_timeout=30))
    result = report.hosts["h"]
    assert result.status is HostStatus.UNREACHABLE
    assert result.error is not None and "refused" in result.error
    assert fake.connects == 3


def test_transient_refusal_then_success_completes() -> None:
    """sshd restarting (refused once) does not fail the host."""
    err = ConnectError("refused", problem=Problem.CONN_REFUSED, transient=True)
    fake = FakeHost(make_host("h"), connect_errors=[err])
    report = deploy([fake])
    assert report.hosts["h"].status is HostStatus.COMPLETED


def test_no_python_on_host_is_a_clear_failure() -> None:
    """Shell exit 127: `python3 not found`, not a traceback."""
    fake = FakeHost(make_host("h"), exit_override=127)
    result = deploy([fake]).hosts["h"]
    assert result.status is HostStatus.FAILED and result.problem is Problem.NO_PYTHON
    assert result.error is not None and "python3 not found" in result.error


def test_old_python_carries_the_runners_message() -> None:
    """Exit 98: the runner's own message is the error."""
    fake = FakeHost(make_host("h"), exit_override=98)
    result = deploy([fake]).hosts["h"]
    assert result.problem is Problem.OLD_PYTHON and result.error is not None
    assert "3.6" in result.error


def test_run_that_dies_before_its_log_reports_the_runners_last_line() -> None:
    """The forked run died before opening its log: its last stderr line is the error."""
    stderr = (
        b"Traceback (most recent call last):\n  ...\nfleet-runner: cannot open log: disk full\n"
    )
    fake = FakeHost(make_host("h"), start_dies=stderr)
    result = deploy([fake]).hosts["h"]
    assert result.status is HostStatus.FAILED and result.problem is Problem.RUNNER_ERROR
    assert result.error == "fleet-runner: cannot open log: disk full"


def test_resume_passes_resume_and_skips_done_services() -> None:
    """Resume runs `start --resume`; skipped services count as done."""
    fake = FakeHost(make_host("h"))
    report = deploy([fake], resume=True)
    assert fake.resumed
    result = report.hosts["h"]
    assert result.status is HostStatus.COMPLETED
    assert result.to_json()["services"] == {"web": "skipped", "db": "completed"}


def test_resume_reattaches_to_a_run_still_going() -> None:
    """Resume of a host with a live run follows that run instead of starting one."""
    fake = FakeHost(make_host("h"), running_run="20260101T000000Z-000001")
    fake.log = run_log("h", "20260101T000000Z-000001", ("web", "db"))
    report = deploy([fake], resume=True)
    assert fake.plans == []
    assert report.hosts["h"].status is HostStatus.COMPLETED
    assert any("--run-id 20260101T000000Z-000001" in c for c in fake.commands)


def test_one_hosts_crash_is_data() -> None:
    """An unexpected exception in one host's session fails that host only."""

    class Boom(FakeFleet):
        def __call__(self, host):  # type: ignore[no-untyped-def]
            if host.name == "bad":
                raise RuntimeError("kaboom")
            return super().__call__(host)

    fakes = [FakeHost(make_host("bad")), FakeHost(make_host("ok"))]
    report = asyncio.run(
        fanout.deploy(
            [f.host for f in fakes], EngineOptions(), runner=RUNNER, connectors=Boom(fakes)
        )
    )
    assert report.hosts["bad"].status is HostStatus.FAILED
    assert report.hosts["bad"].problem is Problem.INTERNAL
    assert report.hosts["ok"].status is HostStatus.COMPLETED


def test_handshakes_are_bounded_separately() -> None:
    """No more than `handshakes` connects are in flight at once."""
    in_flight = 0
    peak = 0

    class Slow(FakeFleet):
        def __call__(self, host):  # type: ignore[no-untyped-def]
            conn = super().__call__(host)
            real = conn.connect

            async def connect() -> None:
                nonlocal in_flight, peak
                in_flight += 1
                peak = max(peak, in_flight)
                await asyncio.sleep(0.01)
                in_flight -= 1
                await real()

            conn.connect = connect  # type: ignore[method-assign]
            return conn

    fakes = [FakeHost(make_host(f"h{i}")) for i in range(30)]
    report = asyncio.run(
        fanout.deploy(
            [f.host for f in fakes],
            EngineOptions(handshakes=4),
            runner=RUNNER,
            connectors=Slow(fakes),
        )
    )
    assert report.completed and peak == 4


def test_status_reads_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """`status` reports a host with a live run as running, an idle one from its state;
    it never builds the runner archive."""
    monkeypatch.setattr(fanout, "load_runner", lambda: pytest.fail("status built the runner"))
    busy = FakeHost(make_host("busy"), running_run="20260101T000000Z-000001")
    idle = FakeHost(make_host("idle"))
    report = asyncio.run(
        fanout.status(
            [busy.host, idle.host],
            EngineOptions(),
            connectors=FakeFleet([busy, idle]),
        )
    )
    assert report.hosts["busy"].status is HostStatus.RUNNING
    assert report.hosts["idle"].problem is Problem.NEVER_DEPLOYED
    assert busy.plans == []
