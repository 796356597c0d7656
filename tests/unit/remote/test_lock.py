"""One run per host: the lock refuses a second run naming the holder; a dead holder's lock
is taken over and the run says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from remote.protocol import Exit
from remote.run.lock import LockHeld, RunLock, holder_running, pid_alive, read_holder
from tests.unit.remote.conftest import FakeHost

HOLDER = {"run_id": "20261127T040000Z-000001", "pid": os.getpid(), "started": "t0", "host": "nas"}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_acquire_is_refused_naming_the_holder(tmp_path: Path) -> None:
    """While one RunLock holds the file, another gets LockHeld with run id, pid, start."""
    first = RunLock(str(tmp_path / "lock"))
    first.acquire(HOLDER)
    with pytest.raises(LockHeld) as refused:
        RunLock(str(tmp_path / "lock")).acquire(dict(HOLDER, run_id="other"))
    message = str(refused.value)
    assert HOLDER["run_id"] in message and str(os.getpid()) in message and "t0" in message
    first.release()


def test_release_empties_the_lock_and_frees_it(tmp_path: Path) -> None:
    """After release the file stays, empty, and a new run can take it."""
    lock = RunLock(str(tmp_path / "lock"))
    lock.acquire(HOLDER)
    assert read_holder(str(tmp_path / "lock")) == HOLDER
    lock.release()
    assert (tmp_path / "lock").read_text() == ""
    again = RunLock(str(tmp_path / "lock"))
    again.acquire(HOLDER)
    assert again.stale_holder is None
    again.release()


def test_stale_holder_is_remembered_on_takeover(tmp_path: Path) -> None:
    """A lock file naming a dead process is free (no flock) and reported as stale."""
    stale = dict(HOLDER, pid=dead_pid())
    (tmp_path / "lock").write_text(json.dumps(stale))
    lock = RunLock(str(tmp_path / "lock"))
    lock.acquire(HOLDER)
    assert lock.stale_holder == stale
    lock.release()


def test_pid_alive_tells_live_dead_and_zombie_apart() -> None:
    """A zombie (killed, not reaped) counts as gone, like a dead pid."""
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(100):
        with open(f"/proc/{zombie.pid}/stat") as handle:
            if handle.read().split(") ")[1].startswith("Z"):
                break
        subprocess.run(["sleep", "0.02"])
    assert not pid_alive(zombie.pid)
    zombie.wait()
    assert not pid_alive(None) and not pid_alive("12")


def test_holder_running_checks_run_id(tmp_path: Path) -> None:
    """holder_running names the live holder, only for the run id asked about."""
    lock = RunLock(str(tmp_path / "lock"))
    lock.acquire(HOLDER)
    assert holder_running(str(tmp_path / "lock"), HOLDER["run_id"]) == HOLDER
    assert holder_running(str(tmp_path / "lock"), "another-run") is None
    lock.release()
    assert holder_running(str(tmp_path / "lock")) is None


def test_run_refused_while_another_holds_the_lock(three_services: FakeHost) -> None:
    """A second run exits LOCKED with one refused run_failed line and changes nothing."""
    three_services.write_plan()
    held = RunLock(str(three_services.state / "lock"))
    held.acquire(HOLDER)
    try:
        before = sorted(os.listdir(three_services.state))
        outcome = three_services.run()
    finally:
        held.release()
    assert outcome.code == Exit.LOCKED
    [_line] = outcome.stdout.splitlines()
    refused = outcome.events[0]
    assert (refused["event"], refused["status"]) == ("run_failed", "refused")
    assert HOLDER["run_id"] in refused["message"] and str(HOLDER["pid"]) in refused["message"]
    assert sorted(os.listdir(three_services.state)) == before
    assert not three_services.logs.exists()
    assert three_services.calls() == []


def test_start_refused_keeps_the_saved_plan(three_services: FakeHost) -> None:
    """`start` against a held lock leaves R/.fleet/plan.json as it was and exits LOCKED."""
    three_services.write_plan()
    saved = (three_services.root / ".fleet" / "plan.json").read_text()
    held = RunLock(str(three_services.state / "lock"))
    held.acquire(HOLDER)
    try:
        plan = json.dumps(three_services.plan(run_id="20261127T050000Z-ffffff"))
        outcome = three_services.runner("start", "--plan", "-", stdin=plan)
    finally:
        held.release()
    assert outcome.code == Exit.LOCKED
    assert outcome.events[0]["run_id"] == "20261127T050000Z-ffffff"
    assert (three_services.root / ".fleet" / "plan.json").read_text() == saved


def test_stale_lock_is_taken_over_with_a_warning(three_services: FakeHost) -> None:
    """A lock left by a killed run: the new run takes it and a warning names the old run."""
    three_services.state.mkdir(parents=True)
    stale = dict(HOLDER, pid=dead_pid(), run_id="20261127T030000Z-dead00")
    (three_services.state / "lock").write_text(json.dumps(stale))
    outcome = three_services.run()
    assert outcome.code == Exit.OK
    assert outcome.kinds()[:2] == ["run_started", "warning"]
    warning = outcome.named("warning")[0]["message"]
    assert "20261127T030000Z-dead00" in warning and str(stale["pid"]) in warning
    assert "gone" in warning
    assert read_holder(str(three_services.state / "lock")) is None
