"""Hosts that owe a run: `fleet resume --pending` picks them, `fleet status` marks them,
and resuming one that its run never reached starts that run there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.cli.app import app
from controller.errors import ExitStatus
from controller.options import RolloutOptions
from controller.report.model import FleetReport, HostResult, HostStatus
from controller.report.pending import Owed, mark_pending, owed_runs
from controller.report.store import RunStore
from controller.report.view import next_command
from controller.report.waves import continuation

OLD, NEW = "20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"


def run(run_id: str, command: str = "deploy", **statuses: HostStatus) -> FleetReport:
    hosts = {n: HostResult(name=n, services={}, status=s) for n, s in statuses.items()}
    return FleetReport(run_id=run_id, hosts=hosts, command=command)


def test_a_host_owes_its_newest_recorded_run_when_that_did_not_complete() -> None:
    """A rolled-back host owes nothing: it runs a known release, and resuming continues
    nothing there."""
    old = run(OLD, a=HostStatus.UNREACHABLE, b=HostStatus.FAILED, c=HostStatus.COMPLETED)
    new = run(
        NEW, "resume", a=HostStatus.COMPLETED, d=HostStatus.DISCONNECTED, e=HostStatus.ROLLED_BACK
    )
    owed = owed_runs([new, old], ["a", "b", "c", "d", "e", "never"])
    assert owed == {
        "b": Owed(OLD, HostStatus.FAILED),
        "d": Owed(NEW, HostStatus.DISCONNECTED),
    }


def test_a_rollback_is_owed_only_when_it_was_cut_part_way() -> None:
    deploy = run(OLD, a=HostStatus.COMPLETED, b=HostStatus.COMPLETED, c=HostStatus.FAILED)
    back = run(
        NEW,
        "rollback",
        a=HostStatus.FAILED,
        b=HostStatus.DISCONNECTED,
        c=HostStatus.UNREACHABLE,
    )
    assert owed_runs([back, deploy], ["a", "b", "c"]) == {"b": Owed(NEW, HostStatus.DISCONNECTED)}


def test_status_marks_a_host_that_owes_a_run_pending_naming_the_run() -> None:
    results = [
        HostResult(name="a", services={}, status=HostStatus.COMPLETED),
        HostResult(name="b", services={}, status=HostStatus.RUNNING),
        HostResult(name="c", services={}, status=HostStatus.COMPLETED),
    ]
    owed = {n: Owed(NEW, HostStatus.UNREACHABLE) for n in ("a", "b")}
    mark_pending(results, owed)
    assert [r.status for r in results] == [
        HostStatus.PENDING,
        HostStatus.RUNNING,  # its run goes on: that is what it is doing
        HostStatus.COMPLETED,
    ]
    assert results[0].error is not None and NEW in results[0].error
    nxt = next_command(results[0], "resume", None)
    assert nxt is not None and "fleet resume a" in nxt and "--pending" in nxt


def test_resuming_a_host_its_deploy_never_reached_starts_that_run() -> None:
    """Unreachable through every try of a deploy: no connection, so no marker of that
    run; resuming it starts the run fresh. One the run reached resumes its markers."""
    reached = HostResult(name="b", services={}, status=HostStatus.UNREACHABLE, connections=2)
    report = run(NEW, a=HostStatus.UNREACHABLE)
    report.hosts["b"] = reached
    cont = continuation([report], ["a", "b"], RolloutOptions())
    assert cont.fresh == frozenset({"a"})


def test_a_recorded_run_keeps_which_hosts_started_fresh() -> None:
    report = run(NEW, "resume", a=HostStatus.UNREACHABLE, b=HostStatus.UNREACHABLE)
    report.fresh = ["a"]
    again = FleetReport.from_json(report.to_json(), report.meta_json())
    assert again.fresh == ["a"]
    assert continuation([again], ["a", "b"], RolloutOptions()).fresh == frozenset({"a"})


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("FLEET_INVENTORY", raising=False)
    inventory = tmp_path / "hosts.yml"
    hosts = "".join(f"  {n}:\n    address: 127.0.9.{i}\n    services: [x]\n" for i, n in
                    enumerate(("a", "b", "c"), 1))  # fmt: skip
    inventory.write_text("hosts:\n" + hosts)
    return tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_resume_pending_with_nothing_pending_contacts_nobody(env: Path) -> None:
    store = RunStore(env / "state" / "fleet")
    store.new_run(NEW).save(run(NEW, a=HostStatus.COMPLETED, b=HostStatus.COMPLETED))
    code, out, _ = invoke("resume", "-i", str(env / "hosts.yml"), "--pending")
    assert code == ExitStatus.OK and "nothing pending" in out
    assert store.run_ids() == [NEW]  # no run was made


def test_resume_pending_picks_exactly_the_hosts_that_did_not_complete(env: Path) -> None:
    store = RunStore(env / "state" / "fleet")
    statuses = {"a": HostStatus.COMPLETED, "b": HostStatus.UNREACHABLE, "c": HostStatus.FAILED}
    store.new_run(NEW).save(run(NEW, **statuses))
    args = ("resume", "-i", str(env / "hosts.yml"), "--pending", "--json")
    code, out, _ = invoke(*args, "--connect-timeout", "1")
    assert code == ExitStatus.NOT_COMPLETED
    assert set(json.loads(out)["hosts"]) == {"b", "c"}


@pytest.mark.parametrize("given", ["5x", "90", "0m"])
def test_until_done_takes_a_duration_or_is_a_usage_error(env: Path, given: str) -> None:
    code, _, err = invoke("deploy", "-i", str(env / "hosts.yml"), "--until-done", given)
    assert code == ExitStatus.USAGE
    assert "90s, 30m, 12h" in err


def test_sigterm_ends_the_wait_at_once_with_the_report_as_it_stands(env: Path) -> None:
    """A host that refuses (nothing listens on its loopback address) is waited for; SIGTERM
    ends the run within moments, exit 1, its report recorded with the tries so far."""
    argv = [sys.executable, "-m", "controller", "deploy", "-i", str(env / "hosts.yml")]
    argv += ["--hosts", "a", "--until-done", "10m", "--connect-timeout", "1", "--json"]
    environ = {**os.environ, "XDG_STATE_HOME": str(env / "state")}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ)
    time.sleep(4)  # its first try is over: refused three times within a second or two
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    out, _ = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 3
    assert proc.returncode == ExitStatus.NOT_COMPLETED
    entry = json.loads(out)["hosts"]["a"]
    assert entry["status"] == "unreachable" and entry["attempts"] >= 1
    (run,) = RunStore(env / "state" / "fleet").run_ids()
    recorded = RunStore(env / "state" / "fleet").load(run).hosts["a"]
    assert recorded.attempts == entry["attempts"]
