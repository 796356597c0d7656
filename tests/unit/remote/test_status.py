"""`status`: the runner reading its files and the sh snapshot `fleet status` runs agree."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from remote.status import host_status, parse_snapshot, snapshot_script, status_from_snapshot
from tests.unit.remote.conftest import FakeHost


def through_sh(root: Path) -> dict[str, object]:
    """The status as `fleet status` computes it: SNAPSHOT_SCRIPT under /bin/sh."""
    script = snapshot_script(str(root), shlex.quote)
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True)
    return status_from_snapshot(str(root), parse_snapshot(out.stdout))


def test_snapshot_of_a_completed_run_matches_the_runner(three_services: FakeHost) -> None:
    """After a run, the sh snapshot and the runner's own reading give the same status."""
    three_services.write_plan()
    assert three_services.run().code == 0
    status = through_sh(three_services.root)
    assert status == host_status(str(three_services.root))
    assert status["completed_stages"] == ["prepare", "validate", "deploy", "verify", "complete"]
    assert status["last_service"] == three_services.services[-1]
    assert status["running"] is None


def test_snapshot_of_a_host_never_deployed(tmp_path: Path) -> None:
    """No state folder at all: nothing running, no last run, no error."""
    status = through_sh(tmp_path / "R")
    assert status["last_run"] is None and status["running"] is None
    assert status["completed_stages"] == [] and status["current_stage"] is None


@pytest.mark.parametrize("alive", [True, False], ids=["live-holder", "dead-holder"])
def test_snapshot_tells_a_live_lock_holder_from_a_dead_one(
    three_services: FakeHost, alive: bool
) -> None:
    """A lock naming a live process is a running run; a dead one leaves the summary's
    `running` as `interrupted`, exactly as the runner itself says."""
    three_services.write_plan()
    three_services.run()
    holder = subprocess.Popen(["sleep", "30"])
    if not alive:
        holder.kill()
        holder.wait()
    summary = json.loads((three_services.state / "summary.json").read_text())
    (three_services.state / "summary.json").write_text(json.dumps(dict(summary, status="running")))
    lock = {"run_id": summary["run_id"], "pid": holder.pid, "started": "t", "log": "/x.log"}
    (three_services.state / "lock").write_text(json.dumps(lock) + "\n")
    try:
        status = through_sh(three_services.root)
        assert status == host_status(str(three_services.root))
    finally:
        holder.kill()
        holder.wait()
    if alive:
        assert status["running"] == {"run_id": lock["run_id"], "pid": holder.pid,
                                     "started": "t", "log": "/x.log"}  # fmt: skip
    else:
        assert status["running"] is None
        assert status["last_run"]["status"] == "interrupted"  # type: ignore[index]


def test_snapshot_quotes_a_root_with_spaces_and_quotes(tmp_path: Path) -> None:
    """The root reaches sh quoted once: spaces and quotes in it are data, not syntax."""
    root = tmp_path / "odd root's $(touch pwned)"
    (root / "state" / "deploy").mkdir(parents=True)
    (root / "state" / "deploy" / "current_stage").write_text("deploy\n")
    assert through_sh(root)["current_stage"] == "deploy"
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()
