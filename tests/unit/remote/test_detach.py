"""`start`: the run outlives the process (and SSH session) that started it; SIGTERM to a
foreground run fails it cleanly; SIGKILL leaves it resumable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from remote.protocol import Exit
from remote.run.lock import read_holder
from tests.unit.remote.conftest import FakeHost, events_in, runner_process, wait_for


def test_start_streams_the_detached_run_to_its_end(three_services: FakeHost) -> None:
    """start saves the plan, streams the log from byte 0 and exits with the run's code."""
    proc = three_services.start_process(stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == Exit.OK, err
    events = events_in(out)
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_completed"
    assert out == Path(events[0]["path"]).read_bytes()
    saved = json.loads((three_services.root / ".fleet" / "plan.json").read_text())
    assert saved == three_services.plan()


def test_start_survives_the_death_of_its_parent(three_services: FakeHost) -> None:
    """Killing `start` (as a dropped SSH session would) leaves the run going to the end,
    in its own session, reading nothing from the session's stdin."""
    three_services.control = {"sleep": {"up": {"bravo": 1.5}}}
    proc = three_services.start_process(stderr=subprocess.PIPE)
    lock = three_services.state / "lock"
    holder = wait_for(
        lambda: (
            (read_holder(str(lock)) or {}).get("pid") not in (None, proc.pid)
            and read_holder(str(lock))
        )
    )
    run_pid = holder["pid"]
    assert os.getsid(run_pid) != os.getsid(proc.pid)
    assert os.readlink(f"/proc/{run_pid}/fd/0") == "/dev/null"
    proc.send_signal(signal.SIGHUP)
    proc.kill()
    proc.wait()
    summary = three_services.state / "summary.json"
    wait_for(
        lambda: summary.exists() and json.loads(summary.read_text())["status"] == "completed",
        timeout=20,
    )
    assert three_services.deployed() == ["alpha", "bravo", "charlie"]


def test_sigterm_fails_the_current_stage_cleanly(three_services: FakeHost) -> None:
    """SIGTERM mid-deploy: stage_failed (interrupted), diagnose, run_failed, exit FAILED;
    the state is resumable from the last completed service."""
    three_services.control = {"sleep": {"up": {"bravo": 30}}}
    three_services.write_control()
    plan = three_services.write_plan()
    proc = runner_process(
        "--root",
        str(three_services.root),
        "--plan",
        str(plan),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: three_services.deployed() == ["alpha", "bravo"])
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == Exit.FAILED, err
    events = events_in(out)
    failed = next(e for e in events if e["event"] == "stage_failed")
    assert (failed["stage"], failed["service"]) == ("deploy", "bravo")
    assert "interrupted by SIGTERM" in failed["message"]
    assert events[-1]["event"] == "run_failed"
    assert any(e["event"] == "diagnostics_collected" for e in events)
    assert (three_services.state / "last_service").read_text() == "alpha\n"
    three_services.control = {}
    three_services.reset_calls()
    assert three_services.run("--resume").code == Exit.OK
    assert three_services.deployed() == ["bravo", "charlie"]


def test_sigkill_leaves_a_resumable_state(three_services: FakeHost) -> None:
    """SIGKILL mid-deploy: no terminal event, a stale lock; --resume takes the lock over
    (with a warning) and deploys from the service after last_service."""
    three_services.control = {"sleep": {"up": {"bravo": 30}}}
    three_services.write_control()
    plan = three_services.write_plan()
    proc = runner_process(
        "--root", str(three_services.root), "--plan", str(plan), stdout=subprocess.PIPE
    )
    wait_for(lambda: three_services.deployed() == ["alpha", "bravo"])
    proc.kill()
    out, _ = proc.communicate()
    assert all(e["event"] not in ("run_completed", "run_failed") for e in events_in(out))
    status = json.loads(three_services.runner("status").stdout)
    assert status["last_run"]["status"] == "interrupted" and status["running"] is None
    three_services.control = {}
    three_services.reset_calls()
    outcome = three_services.run("--resume")
    assert outcome.code == Exit.OK
    assert "its process is gone" in outcome.named("warning")[0]["message"]
    assert three_services.deployed() == ["bravo", "charlie"]


def test_start_goes_on_when_its_reader_goes_away(three_services: FakeHost) -> None:
    """The controller's channel closes mid-run (EPIPE on the echo): the run completes,
    its log whole."""
    three_services.control = {"sleep": {"up": {"bravo": 1.0}}}
    proc = three_services.start_process(stderr=subprocess.DEVNULL)
    wait_for(lambda: three_services.deployed() == ["alpha", "bravo"])
    proc.stdout.close()
    assert proc.wait(timeout=30) == Exit.OK
    log = next((three_services.root / "logs" / "deploy").glob("deploy_*.log"))
    assert events_in(log.read_bytes())[-1]["event"] == "run_completed"
    assert three_services.deployed() == ["alpha", "bravo", "charlie"]


def test_echo_never_blocks_and_delivers_everything_in_order() -> None:
    """A full pipe (a stalled link) does not block the run; what did not fit is sent
    later, in order, and `finish` waits for the reader to take the rest."""
    from remote.run.detach import Echo

    read_fd, write_fd = os.pipe()
    echo = Echo(write_fd)
    line = b"x" * 1000 + b"\n"
    started = time.monotonic()
    for _ in range(200):  # 200 kB: more than a pipe holds
        echo.write(line)
        echo.flush()
    assert time.monotonic() - started < 5
    received = []
    reader = threading.Thread(target=lambda: received.append(_read_all(read_fd)))
    reader.start()
    echo.finish()
    os.close(write_fd)
    reader.join(timeout=10)
    assert received == [line * 200]


def test_echo_goes_quiet_when_the_reader_is_gone() -> None:
    """EPIPE: no exception reaches the run, and nothing more is written."""
    from remote.run.detach import Echo

    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    echo = Echo(write_fd)
    assert echo.write(b"line\n") == 5
    echo.flush()
    echo.write(b"more\n")
    echo.flush()
    echo.finish()
    os.close(write_fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
