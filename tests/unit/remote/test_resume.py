"""Every way a run starts: fresh, resumed at each stage, resumed inside deploy, already done."""

from __future__ import annotations

import json

from remote.protocol import Exit
from tests.unit.remote.conftest import FakeHost


def skipped_stages(outcome) -> list[str]:
    return [e["stage"] for e in outcome.named("stage_skipped")]


def test_fresh_run_clears_state_but_keeps_the_lock_file(three_services: FakeHost) -> None:
    """Without --resume, markers and last_service of an earlier run are gone; lock stays."""
    three_services.control = {"fail": {"up": ["bravo"]}}
    three_services.run()
    lock = three_services.state / "lock"
    inode = lock.stat().st_ino
    three_services.control = {}
    three_services.reset_calls()
    outcome = three_services.run()
    assert skipped_stages(outcome) == []
    assert three_services.deployed() == ["alpha", "bravo", "charlie"]
    assert not (three_services.state / "stage_diagnose_complete").exists()
    assert lock.stat().st_ino == inode


def test_resume_continues_deploy_after_last_service(three_services: FakeHost) -> None:
    """bravo failed: --resume skips prepare/validate and alpha, deploys bravo and charlie."""
    three_services.control = {"fail": {"up": ["bravo"]}}
    three_services.run()
    three_services.control = {}
    three_services.reset_calls()
    outcome = three_services.run("--resume")
    assert outcome.code == Exit.OK
    assert skipped_stages(outcome) == ["prepare", "validate"]
    assert three_services.deployed() == ["bravo", "charlie"]
    skipped = outcome.named("service_skipped")
    assert [(e["service"], e["stage"], e["status"]) for e in skipped] == [
        ("alpha", "deploy", "skipped")
    ]
    assert three_services.summary()["services"] == {
        "alpha": "skipped",
        "bravo": "completed",
        "charlie": "completed",
    }


def test_resume_when_first_service_failed_deploys_all(three_services: FakeHost) -> None:
    """No last_service yet: the resumed deploy starts with the first service."""
    three_services.control = {"fail": {"up": ["alpha"]}}
    three_services.run()
    three_services.control = {}
    three_services.reset_calls()
    outcome = three_services.run("--resume")
    assert three_services.deployed() == ["alpha", "bravo", "charlie"]
    assert outcome.named("service_skipped") == []


def test_resume_with_last_service_not_in_plan_deploys_all(three_services: FakeHost) -> None:
    """A last_service the plan no longer lists cannot anchor a resume: deploy everything."""
    three_services.control = {"fail": {"up": ["charlie"]}}
    three_services.run()
    (three_services.state / "last_service").write_text("retired\n")
    three_services.control = {}
    three_services.reset_calls()
    outcome = three_services.run("--resume")
    assert three_services.deployed() == ["alpha", "bravo", "charlie"]
    assert "not in this plan" in outcome.stdout.decode()


def test_resume_after_validate_failure_validates_again(fake_host: FakeHost) -> None:
    """A definition added after validate failed is checked on resume, then deployed."""
    fake_host.add_service("alpha")
    folder = fake_host.add_service("bravo", definition="")
    assert fake_host.run().code == Exit.FAILED
    (folder / "compose.yaml").write_text("services: {}\n")
    outcome = fake_host.run("--resume")
    assert outcome.code == Exit.OK
    assert skipped_stages(outcome) == ["prepare"]
    assert fake_host.deployed() == ["alpha", "bravo"]


def test_resume_after_verify_failure_only_verifies(three_services: FakeHost) -> None:
    """deploy completed, verify failed: resume skips through deploy and verifies again."""
    three_services.control = {"state": {"charlie": "exited"}}
    three_services.run()
    three_services.control = {}
    three_services.reset_calls()
    outcome = three_services.run("--resume")
    assert outcome.code == Exit.OK
    assert skipped_stages(outcome) == ["prepare", "validate", "deploy"]
    assert three_services.deployed() == []
    assert set(three_services.summary()["services"].values()) == {"skipped"}


def test_resume_of_a_completed_run_does_nothing_and_says_so(three_services: FakeHost) -> None:
    """State says complete: no stage runs, no compose call, exit OK, the event says why."""
    three_services.run()
    three_services.reset_calls()
    outcome = three_services.run("--resume")
    assert outcome.code == Exit.OK
    assert outcome.kinds() == ["run_started", "run_completed"]
    assert "nothing to do" in outcome.named("run_completed")[0]["message"]
    assert three_services.calls() == []
    assert three_services.summary()["status"] == "completed"


def test_resume_without_any_state_runs_everything(three_services: FakeHost) -> None:
    """--resume on a host that never ran is simply a full run."""
    outcome = three_services.run("--resume")
    assert outcome.code == Exit.OK
    assert skipped_stages(outcome) == []
    assert three_services.deployed() == ["alpha", "bravo", "charlie"]


def test_resume_diagnoses_its_own_failure(three_services: FakeHost) -> None:
    """A resumed run that fails again runs diagnose again (its marker is not a skip)."""
    three_services.control = {"fail": {"up": ["bravo"]}}
    three_services.run()
    outcome = three_services.run("--resume")
    assert outcome.code == Exit.FAILED
    assert len(outcome.named("diagnostics_collected")) == 1
    assert "diagnose" not in skipped_stages(outcome)


def test_resume_twice_is_idempotent(three_services: FakeHost) -> None:
    """Repeated resumes after a success change nothing and keep succeeding."""
    three_services.run()
    first = three_services.run("--resume")
    second = three_services.run("--resume")
    assert first.code == second.code == Exit.OK
    assert first.kinds() == second.kinds()


def test_operator_resume_uses_the_saved_plan(three_services: FakeHost) -> None:
    """`--resume` with no --plan reads R/.fleet/plan.json, as the controller left it."""
    plan_file = three_services.tmp / "elsewhere.json"
    plan_file.write_text(json.dumps(three_services.plan()))
    three_services.control = {"fail": {"up": ["charlie"]}}
    three_services.runner("--plan", str(plan_file))
    saved = json.loads((three_services.root / ".fleet" / "plan.json").read_text())
    assert saved["services"] == ["alpha", "bravo", "charlie"]
    three_services.control = {}
    three_services.reset_calls()
    outcome = three_services.runner("--resume")
    assert outcome.code == Exit.OK
    assert three_services.deployed() == ["charlie"]
