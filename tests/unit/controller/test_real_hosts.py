"""Hosts as they come: banners, unwritable roots, links that fail the same step again.

Each path that could loop is run under a wall-clock bound that a loop would break.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from controller import fanout
from controller.options import EngineOptions
from controller.report.events import Event, apply
from controller.report.model import FleetReport, HostStatus
from controller.report.problems import Problem
from controller.report.view import next_command
from controller.session.deadline import ReconnectDeadline
from controller.session.outcome import new_result
from controller.transport import transfer
from controller.transport.framing import Frame
from controller.transport.transfer import TransferError
from remote.docker.access import NO_DOCKER_ACCESS
from tests.unit.controller.fakes import RUNNER, FakeFleet, FakeHost, FakeTime, make_host

BANNER = b"Welcome to DSM 7.2\n@@fleet-notyours-begin@@\nno newline at the end: "


def deploy(fakes: list[FakeHost], bound: float = 10.0, **opts: object) -> FleetReport:
    """Deploy to fakes in fake time (no real sleeps); fails if the whole run takes longer
    than `bound` seconds of real time."""
    options = EngineOptions(**opts)  # type: ignore[arg-type]
    run = fanout.deploy(
        [f.host for f in fakes], options, run_id="20260101T000000Z-abcdef",
        runner=RUNNER, connectors=FakeFleet(fakes), timing=FakeTime().timing(),
    )  # fmt: skip
    started = time.monotonic()
    report = asyncio.run(asyncio.wait_for(run, bound))
    assert time.monotonic() - started < bound
    return report


def test_frame_keeps_only_what_the_command_printed() -> None:
    """A banner before the begin line, and an end line, are cut away; bytes kept exactly."""
    frame = Frame()
    data = BANNER + frame.begin + b"\n" + b"payload" + b"\n" + frame.end + b"\n"
    assert frame.inner(data) == b"payload"
    assert frame.inner(frame.begin + b"\n{}\n") == b"{}\n"


@pytest.mark.parametrize("size", [1, 2, 5, 37])
def test_frame_stream_drops_the_banner_in_any_chunking(size: int) -> None:
    """Streamed output passes on exactly the bytes after the begin line, however split."""
    frame = Frame()
    got: list[bytes] = []
    feed = frame.stream(got.append)
    data = BANNER * 3 + frame.begin + b"\n" + b"[STRUCT] {}\nline two\n"
    for i in range(0, len(data), size):
        feed(data[i : i + size])
    assert b"".join(got) == b"[STRUCT] {}\nline two\n"


def test_banner_host_deploys_and_reads_status() -> None:
    """A login shell that prints on stdout and stderr changes nothing: deploy, status."""
    fake = FakeHost(make_host("nas"), banner=True)
    report = deploy([fake])
    assert report.hosts["nas"].status is HostStatus.COMPLETED
    status = asyncio.run(fanout.status([fake.host], EngineOptions(), connectors=FakeFleet([fake])))
    assert status.hosts["nas"].problem is Problem.NEVER_DEPLOYED  # parsed, not garbled


def test_banner_does_not_shift_the_follow_offset() -> None:
    """After a drop, follow resumes at the log's own byte count, not the banner's."""
    fake = FakeHost(make_host("lte"), banner=True, drop_after=700)
    report = deploy([fake], reconnect_timeout=5)
    assert report.hosts["lte"].status is HostStatus.COMPLETED
    follow = next(c for c in fake.commands if " follow " in c)
    offset = int(follow.split("--offset ", 1)[1].split(" ", 1)[0])
    assert fake.log[:offset].endswith(b"\n") and offset <= 700


def test_unwritable_root_fails_at_once_with_path_user_and_hint() -> None:
    """Permission denied is not retried: one connection, failed, what to do."""
    err = transfer.classify(
        transfer.MKDIR_FAILED,
        "mkdir: cannot create directory '/opt/homelab/.fleet': Permission denied\n",
        "guest",
        "/opt/homelab/.fleet/fleet-runner-abc.pyz",
    )
    fake = FakeHost(make_host("nas"), put_error=err)
    result = deploy([fake], reconnect_timeout=30).hosts["nas"]
    assert result.status is HostStatus.FAILED and result.problem is Problem.ROOT_NOT_WRITABLE
    assert result.error == (
        "cannot write /opt/homelab/.fleet: permission denied for user guest "
        "(give guest the root folder, or set root: in the inventory)"
    )
    assert fake.connects == 1


@pytest.mark.parametrize(
    ("stderr", "problem", "words"),
    [
        ("cat: write error: No space left on device", Problem.NO_SPACE, "no space left"),
        ("sh: cannot create x: Read-only file system", Problem.READ_ONLY_FS, "read-only"),
        ("cat: write error: Input/output error", Problem.TRANSFER_FAILED, "Input/output"),
    ],
)
def test_write_failures_are_told_apart(stderr: str, problem: Problem, words: str) -> None:
    """Each cause gets its own problem and words, naming the folder written to."""
    err = transfer.classify(transfer.WRITE_FAILED, stderr, "pi", "/srv/h/.fleet/f.pyz")
    assert err.problem is problem and words in err.message and "/srv/h/.fleet" in err.message


def test_upload_that_loses_the_link_every_time_ends_disconnected_in_time() -> None:
    """Reconnects succeed but the upload drops again: one deadline, then disconnected."""
    fake = FakeHost(make_host("lte"), put_lost=True)
    result = deploy([fake], bound=5.0, reconnect_timeout=0.5).hosts["lte"]
    assert result.status is HostStatus.DISCONNECTED
    assert result.error is not None and "not back within 0.5 s" in result.error
    assert 2 <= fake.connects < 50


def test_follow_that_drops_at_once_every_time_ends_in_time() -> None:
    """A link that drops before any byte after each reconnect is bounded too."""
    fake = FakeHost(make_host("lte"), drop_after=0, drops=10_000)
    result = deploy([fake], bound=5.0, reconnect_timeout=0.5).hosts["lte"]
    assert result.status is HostStatus.DISCONNECTED


def test_deadline_renews_only_on_progress() -> None:
    """Same progress: the clock keeps running; new bytes: a fresh timeout."""
    now = [0.0]
    deadline = ReconnectDeadline(10.0, lambda: now[0])
    assert deadline.link_lost(100) and deadline.remaining() == 10.0
    now[0] = 6.0
    assert not deadline.link_lost(100) and deadline.remaining() == 4.0
    now[0] = 11.0
    assert deadline.spent
    assert deadline.link_lost(200) and deadline.remaining() == 10.0


def test_transfer_error_is_a_clean_failure_from_get() -> None:
    """Reading a missing diagnostics file is a warning, not a crash."""
    err = TransferError("x does not exist", problem=Problem.TRANSFER_FAILED, path="x")
    assert err.problem is Problem.TRANSFER_FAILED


def test_no_docker_access_is_its_own_problem_with_its_next_step() -> None:
    """The runner's Docker-access failure folds into NO_DOCKER_ACCESS and its hint."""
    result = new_result(make_host("pi"))
    why = f"user guest {NO_DOCKER_ACCESS}: permission denied on /var/run/docker.sock"
    apply(result, Event(event="stage_failed", stage="prepare", message=why))
    apply(result, Event(event="run_failed", stage="prepare", message=f"prepare failed: {why}"))
    assert result.problem is Problem.NO_DOCKER_ACCESS
    assert "docker group" in (next_command(result, "deploy", None) or "")
