"""on_failure: rollback on a fake host: the failed run, then the rollback in the same
process and log, the host's summary, a resume after it, and `follow` across both runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

from remote.protocol import Exit
from remote.run.follow import follow
from tests.unit.remote.conftest import FakeHost

GOOD = "20261101T000000Z-aaaaaa"
FAILED_RUN = "20261102T000000Z-bbbbbb"
ROLLBACK_RUN = FAILED_RUN + "-rollback"
FAILING_CHECK = "echo not healthy; exit 1\n"


def _host_with_a_good_release(fake_host: FakeHost, release_healthy: bool = True) -> FakeHost:
    """alpha's current definition fails its healthcheck; release GOOD (a pushed revision)
    has one that passes, unless `release_healthy` is False."""
    fake_host.run_id = FAILED_RUN
    fake_host.add_service("alpha", healthcheck=FAILING_CHECK)
    revision = fake_host.root / ".fleet" / "revisions" / "r1" / "services" / "alpha"
    revision.mkdir(parents=True)
    (revision / "compose.yaml").write_text("services:\n  app:\n    image: old\n")
    if not release_healthy:
        (revision / "healthcheck.sh").write_text(FAILING_CHECK)
    releases = fake_host.state / "releases"
    releases.mkdir(parents=True)
    record = {
        "run_id": GOOD,
        "revision": {"source": "push", "id": "r1"},
        "services": {"alpha": {"app": {"image": "sha256:old"}}},
    }
    (releases / f"{GOOD}.json").write_text(json.dumps(record))
    (fake_host.state / "last_good").write_text(GOOD + "\n")
    fake_host.write_plan(on_failure="rollback")
    return fake_host


def test_a_failed_verify_rolls_back_to_the_last_good_release_in_the_same_run(
    fake_host: FakeHost,
) -> None:
    """run_failed names the rollback; the rollback's own events follow; the host's summary
    is rolled_back with both steps, and the runner exits 1."""
    host = _host_with_a_good_release(fake_host)
    outcome = host.run()
    assert outcome.code == Exit.FAILED, outcome.stdout.decode()
    failed = outcome.named("run_failed")
    assert [(e["run_id"], e["rollback_run"], e["release"]) for e in failed] == [
        (FAILED_RUN, ROLLBACK_RUN, GOOD)
    ]
    started = outcome.named("run_started")
    assert [(e["run_id"], e["kind"]) for e in started] == [
        (FAILED_RUN, "deploy"),
        (ROLLBACK_RUN, "rollback"),
    ]
    assert started[1]["failed_run"] == FAILED_RUN
    end = outcome.events[-1]
    assert end["event"] == "run_completed" and end["run_id"] == ROLLBACK_RUN
    assert (end["status"], end["stage"], end["service"], end["release"]) == (
        "rolled_back", "verify", "alpha", GOOD,
    )  # fmt: skip
    assert end["message"].startswith("verify failed for alpha (")
    assert end["message"].endswith(f"; rolled back to release {GOOD}")
    summary = host.summary()
    assert (summary["status"], summary["rolled_back_to"], summary["failed_run"]) == (
        "rolled_back", GOOD, FAILED_RUN,
    )  # fmt: skip
    assert summary["diagnostics"]  # the failed run's
    record = json.loads((host.state / "releases" / f"{ROLLBACK_RUN}.json").read_text())
    assert record["kind"] == "rollback" and record["rollback_of"] == GOOD
    assert json.loads((host.root / ".fleet" / "plan.json").read_text())["run_id"] == ROLLBACK_RUN


def test_a_resume_after_a_rollback_continues_nothing_and_says_so(fake_host: FakeHost) -> None:
    host = _host_with_a_good_release(fake_host)
    assert host.run().code == Exit.FAILED
    host.reset_calls()
    host.write_plan(kind="resume", run_id="20261103T000000Z-cccccc")
    outcome = host.run("--resume")
    assert outcome.code == Exit.FAILED
    assert host.calls("up") == []
    end = outcome.events[-1]
    assert end["status"] == "rolled_back" and "nothing to resume" in end["message"]
    assert host.summary()["status"] == "rolled_back"


def test_a_fresh_deploy_after_a_rollback_starts_fresh(fake_host: FakeHost) -> None:
    host = _host_with_a_good_release(fake_host)
    assert host.run().code == Exit.FAILED
    (host.root / "repo" / "services" / "alpha" / "healthcheck.sh").unlink()
    host.write_plan(run_id="20261103T000000Z-cccccc")
    assert host.run().code == Exit.OK
    summary = host.summary()
    assert summary["status"] == "completed" and "failed_run" not in summary


def test_a_rollback_that_fails_too_leaves_the_host_failed_with_both_causes(
    fake_host: FakeHost,
) -> None:
    host = _host_with_a_good_release(fake_host, release_healthy=False)
    outcome = host.run()
    assert outcome.code == Exit.FAILED
    end = outcome.events[-1]
    assert end["event"] == "run_failed" and end["run_id"] == ROLLBACK_RUN
    assert "rollback_run" not in end and end["failed_run"] == FAILED_RUN
    summary = host.summary()
    assert summary["status"] == "failed" and summary["failed_stage"] == "verify"
    assert summary["error"].startswith("verify failed for alpha (")
    assert f"the rollback to release {GOOD} failed too: verify failed" in summary["error"]


def test_with_no_release_the_host_fails_and_says_there_was_nothing_to_roll_back_to(
    fake_host: FakeHost,
) -> None:
    fake_host.add_service("alpha", healthcheck=FAILING_CHECK)
    fake_host.write_plan(on_failure="rollback")
    outcome = fake_host.run()
    assert outcome.code == Exit.FAILED
    assert [e["kind"] for e in outcome.named("run_started")] == ["deploy"]
    (failed,) = outcome.named("run_failed")
    assert "rollback_run" not in failed
    assert failed["message"].endswith("nothing to roll back to (no release recorded on this host)")
    assert fake_host.summary()["status"] == "failed"


def test_on_failure_stop_is_the_default(fake_host: FakeHost) -> None:
    host = _host_with_a_good_release(fake_host)
    host.write_plan()
    outcome = host.run()
    assert outcome.code == Exit.FAILED
    assert [e["kind"] for e in outcome.named("run_started")] == ["deploy"]


def test_follow_goes_on_from_the_failed_run_to_its_rollback(fake_host: FakeHost) -> None:
    """`follow --run-id FAILED` copies through the rollback's end, and exits 1."""
    host = _host_with_a_good_release(fake_host)
    host.run()
    (log,) = list(host.logs.glob("deploy_*.log"))
    out = io.BytesIO()
    assert follow(str(log), 0, FAILED_RUN, out, lambda: False, poll_s=0.01) == Exit.FAILED
    assert out.getvalue() == Path(log).read_bytes()
