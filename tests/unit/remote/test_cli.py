"""The runner's commands seen from the controller: follow and status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from remote import cli
from remote.protocol import Exit
from remote.run.follow import follow
from remote.run.lock import RunLock
from tests.unit.remote.conftest import REPO, FakeHost, runner_process, wait_for

# ---- follow ------------------------------------------------------------------------------


def test_follow_from_an_offset_returns_exactly_the_remaining_bytes(
    three_services: FakeHost,
) -> None:
    """Offset N of a finished run: the bytes from N to the terminal line, exit OK."""
    run = three_services.run()
    log = run.events[0]["path"]
    data = Path(log).read_bytes()
    offset = len(data) // 3
    outcome = three_services.runner(
        "follow", "--log", log, "--offset", str(offset), "--run-id", three_services.run_id
    )
    assert outcome.code == Exit.OK
    assert outcome.stdout == data[offset:]


def test_follow_exits_failed_on_run_failed(three_services: FakeHost) -> None:
    """A run_failed terminal line ends follow with exit FAILED."""
    three_services.control = {"fail": {"up": ["alpha"]}}
    log = three_services.run().events[0]["path"]
    outcome = three_services.runner("follow", "--log", log, "--run-id", three_services.run_id)
    assert outcome.code == Exit.FAILED
    assert outcome.stdout == Path(log).read_bytes()


def test_follow_reports_a_vanished_run(tmp_path: Path) -> None:
    """No holder for the run and no terminal event: exit VANISHED after the last byte."""
    log = tmp_path / "deploy.log"
    log.write_bytes(b'[STRUCT] {"event":"run_started","run_id":"r1"}\npartial li')
    out = _Sink()
    assert follow(str(log), 0, "r1", out, lambda: False, poll_s=0.01) == Exit.VANISHED
    assert out.data == log.read_bytes()


def test_follow_streams_while_the_run_writes_and_stops_at_its_terminal_line(tmp_path: Path) -> None:
    """Bytes are copied as they come; other runs' terminal events do not end follow,
    and nothing after this run's terminal line is copied."""
    log = tmp_path / "deploy.log"
    log.write_bytes(b"")
    lines = [
        b'[STRUCT] {"event":"run_started","run_id":"r1"}\n',
        b'[STRUCT] {"event":"run_completed","run_id":"other"}\n',
        b"2026 human line\n",
        b'[STRUCT] {"event":"run_comp',
        b'leted","run_id":"r1"}\n',
        b"trailing garbage\n",
    ]

    def writer() -> None:
        for line in lines:
            time.sleep(0.03)
            with open(log, "ab") as handle:
                handle.write(line)

    thread = threading.Thread(target=writer)
    thread.start()
    out = _Sink()
    code = follow(str(log), 0, "r1", out, lambda: thread.is_alive(), poll_s=0.01)
    thread.join()
    assert code == Exit.OK
    assert out.data == b"".join(lines[:-1])


def test_follow_waits_for_a_log_that_does_not_exist_yet(tmp_path: Path) -> None:
    """A missing log with no live run is VANISHED, not an error."""
    out = _Sink()
    assert follow(str(tmp_path / "nope.log"), 0, "r1", out, lambda: False) == Exit.VANISHED


def test_follow_exits_quietly_when_the_reader_goes_away(three_services: FakeHost) -> None:
    """The controller closing the pipe ends follow at its next write, without a traceback."""
    log = Path(three_services.run().events[0]["path"])
    lock = RunLock(str(three_services.state / "lock"))
    lock.acquire({"run_id": "live-run", "pid": os.getpid(), "started": "t0", "host": "nas"})
    try:
        proc = runner_process(
            "follow", "--root", str(three_services.root), "--log", str(log), "--run-id", "live-run",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        proc.stdout.read(10)
        proc.stdout.close()
        with open(log, "ab") as handle:
            handle.write(b"more bytes while nobody reads\n")
        _, err = proc.communicate(timeout=10)
    finally:
        lock.release()
    assert b"Traceback" not in err and err == b""
    assert proc.returncode == Exit.OK


class _Sink:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def flush(self) -> None:
        pass


# ---- status ------------------------------------------------------------------------------


def test_status_of_a_host_that_never_ran(fake_host: FakeHost) -> None:
    """Every key is there, empty."""
    outcome = fake_host.runner("status")
    status = json.loads(outcome.stdout)
    assert outcome.code == Exit.OK
    assert status == {
        "host": status["host"], "root": str(fake_host.root), "current_stage": None,
        "completed_stages": [], "last_service": None, "running": None, "last_run": None,
        "plan": None,
    }  # fmt: skip


def test_status_after_a_failed_run(three_services: FakeHost) -> None:
    """status shows the stage reached, markers, last_service, summary and plan."""
    three_services.control = {"fail": {"up": ["bravo"]}}
    three_services.run()
    status = json.loads(three_services.runner("status").stdout)
    assert status["host"] == "nas"
    assert status["current_stage"] == "diagnose"
    assert status["completed_stages"] == ["prepare", "validate", "diagnose"]
    assert status["last_service"] == "alpha"
    assert status["running"] is None
    assert status["last_run"]["status"] == "failed"
    assert status["plan"] == {
        "run_id": three_services.run_id,
        "services": ["alpha", "bravo", "charlie"],
    }


def test_status_reports_a_killed_run_as_interrupted(three_services: FakeHost) -> None:
    """summary.json says running but nobody holds the lock: status says interrupted."""
    three_services.run()
    summary_path = three_services.state / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps(dict(summary, status="running")))
    status = json.loads(three_services.runner("status").stdout)
    assert status["last_run"]["status"] == "interrupted"
    assert json.loads(summary_path.read_text())["status"] == "running"  # read-only


def test_status_while_a_run_is_going(three_services: FakeHost) -> None:
    """A live run appears under running with its run id, pid, start time and log."""
    three_services.control = {"sleep": {"up": {"alpha": 30}}}
    three_services.write_control()
    plan = three_services.write_plan()

    def going() -> dict[str, Any] | None:
        status = json.loads(_status(three_services.root))
        running = status["running"]
        # The lock names the log as soon as it is open; summary.json follows.
        return status if running and running["log"] and status["last_run"] else None

    proc = runner_process(
        "--root", str(three_services.root), "--plan", str(plan), stdout=subprocess.DEVNULL
    )
    try:
        status = wait_for(going)
        running = status["running"]
        assert running is not None
        assert (running["run_id"], running["pid"]) == (three_services.run_id, proc.pid)
        assert Path(running["log"]).parent == three_services.logs
        assert status["last_run"]["status"] == "running"
    finally:
        proc.kill()
        proc.wait()


def _status(root: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "remote.cli", "status", "--root", str(root)],
        cwd=REPO, capture_output=True, check=True,
    )  # fmt: skip
    return out.stdout.decode()


# ---- defaults ----------------------------------------------------------------------------


def test_root_defaults_to_the_folder_above_dot_fleet(monkeypatch, tmp_path: Path) -> None:
    """`python3 R/.fleet/fleet-runner.pyz` finds R from its own path."""
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "R" / ".fleet" / "fleet-runner.pyz")])
    assert cli.default_root() == str(tmp_path / "R")
    monkeypatch.chdir(tmp_path / "..")
    monkeypatch.setattr(sys, "argv", [os.path.join(tmp_path.name, "R", ".fleet", "x.pyz")])
    assert cli.default_root() == str(tmp_path / "R")


# ---- the command line ------------------------------------------------------------------


def test_bad_command_lines_exit_usage_naming_the_problem(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Unknown flags, missing values or required flags, a bad offset: exit USAGE, the
    usage line and what is wrong on stderr; --help prints the usage and exits OK."""
    cases = {
        ("status", "--plan", "x"): "unrecognized argument: --plan",
        ("start", "--root", "/r"): "required: --plan",
        ("follow", "--log", "l", "--run-id"): "--run-id needs a value",
        ("follow", "--log=l", "--run-id=r", "--offset", "²"): "is not a byte offset",
        ("--resume=yes",): "--resume takes no value",
    }
    for argv, message in cases.items():
        assert cli.main(list(argv)) == Exit.USAGE
        err = capsys.readouterr().err
        assert err.startswith("usage: fleet-runner") and message in err, err
    assert cli.main(["follow", "--help"]) == Exit.OK
    assert "--offset N" in capsys.readouterr().out
