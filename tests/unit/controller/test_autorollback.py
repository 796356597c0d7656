"""on_failure: rollback on the controller: the job carries it, the fold keeps the failed
run and its rollback as two steps of one host, status and report say rolled_back."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from controller.job.spec import JobSettings, job_fields
from controller.notify.message import build_message
from controller.report.events import apply, parse_line
from controller.report.model import FleetReport, HostResult, HostStatus, ServiceState
from controller.report.problems import Problem
from controller.report.view import next_command
from controller.session.follow import Follower
from controller.session.outcome import apply_status, new_result
from inventory import load_inventory
from tests.unit.controller.fakes import make_host, struct

FAILED = "20261206T101500Z-bbbbbb"
ROLLBACK = FAILED + "-rollback"
GOOD = "20261206T090000Z-aaaaaa"
ERROR = "verify failed for web (unhealthy after 60s); rolled back to release " + GOOD


def _failed_run() -> list[bytes]:
    return [
        struct(event="run_started", run_id=FAILED, kind="deploy", path="/r/logs/deploy/d.log"),
        struct(event="service_completed", run_id=FAILED, stage="deploy", service="web"),
        struct(event="stage_started", run_id=FAILED, stage="verify"),
        struct(
            event="service_failed",
            run_id=FAILED,
            stage="verify",
            service="web",
            message="unhealthy after 60s",
        ),
        struct(event="stage_failed", run_id=FAILED, stage="verify", service="web"),
        struct(event="diagnostics_collected", run_id=FAILED, path="/r/logs/deploy/diag.txt"),
        struct(
            event="run_failed",
            run_id=FAILED,
            stage="verify",
            service="web",
            message="verify failed: unhealthy after 60s",
            rollback_run=ROLLBACK,
            release=GOOD,
        ),
    ]


def _rollback_run(end: bytes) -> list[bytes]:
    return [
        struct(
            event="run_started", run_id=ROLLBACK, kind="rollback", failed_run=FAILED, release=GOOD
        ),
        struct(event="stage_started", run_id=ROLLBACK, stage="deploy"),
        struct(event="service_completed", run_id=ROLLBACK, stage="deploy", service="web"),
        struct(event="stage_completed", run_id=ROLLBACK, stage="complete"),
        end,
    ]


ROLLED_BACK_END = struct(
    event="run_completed",
    run_id=ROLLBACK,
    status="rolled_back",
    stage="verify",
    service="web",
    release=GOOD,
    failed_run=FAILED,
    message=ERROR,
)


def _fold(lines: list[bytes], result: HostResult | None = None) -> HostResult:
    result = result or new_result(make_host("nas", ("web", "db")))
    for line in lines:
        event = parse_line(line.rstrip())
        assert event is not None
        apply(result, event)
    return result


def test_the_failed_run_then_its_rollback_fold_into_one_rolled_back_host() -> None:
    during = _fold(_failed_run())
    assert during.status is HostStatus.RUNNING and during.note == f"rolling back to release {GOOD}"
    result = _fold(_rollback_run(ROLLED_BACK_END), during)
    assert result.status is HostStatus.ROLLED_BACK and result.problem is Problem.ROLLED_BACK
    assert result.error == ERROR
    assert result.services == {"web": ServiceState.FAILED, "db": ServiceState.PENDING}
    data = result.to_json()
    assert (data["failed_stage"], data["last_stage"]) == ("verify", "verify")
    assert (data["failed_service"], data["rolled_back_to"]) == ("web", GOOD)
    assert data["diagnostics"] == "/r/logs/deploy/diag.txt"
    assert "fleet deploy --hosts nas" in str(next_command(result, "deploy", None))
    again = HostResult.from_json("nas", data, result.meta_json())
    assert again.rollback == result.rollback and again.status is HostStatus.ROLLED_BACK


def test_the_rollbacks_end_alone_is_enough(tmp_path: Path) -> None:
    """A resume that re-attached to the rollback saw only its events."""
    result = _fold(_rollback_run(ROLLED_BACK_END))
    assert result.status is HostStatus.ROLLED_BACK
    assert result.to_json()["rolled_back_to"] == GOOD
    assert result.to_json()["failed_service"] == "web"


def test_a_rollback_that_fails_too_leaves_the_host_failed_with_both_causes() -> None:
    both = f"verify failed for web (x); the rollback to release {GOOD} failed too: deploy failed"
    end = struct(event="run_failed", run_id=ROLLBACK, stage="deploy", failed_run=FAILED,
                 message=both)  # fmt: skip
    result = _fold([*_failed_run(), *_rollback_run(end)])
    assert result.status is HostStatus.FAILED and result.error == both
    data = result.to_json()
    assert data["failed_stage"] == "verify" and data["rolled_back_to"] is None


def test_nothing_to_roll_back_to_is_said_in_the_error() -> None:
    end = struct(event="run_failed", run_id=FAILED, stage="verify",
                 message="verify failed: x; nothing to roll back to (no release recorded on "
                 "this host)")  # fmt: skip
    result = _fold([*_failed_run()[:-1], end])
    assert result.status is HostStatus.FAILED
    assert result.error is not None and result.error.endswith(
        "nothing to roll back to (no release recorded on this host)"
    )
    assert "rolled_back_to" not in result.to_json()


def test_the_follower_goes_on_to_the_rollback_run() -> None:
    result = new_result(make_host("nas", ("web",)))
    follower = Follower(None, result, FAILED, lambda r, e: None, None, lambda n: None)  # type: ignore[arg-type]
    for line in [*_failed_run(), *_rollback_run(ROLLED_BACK_END)]:
        follower.reader.feed(line)
        if line.startswith(b'[STRUCT] {"event": "run_failed"'):
            assert follower.run_id == ROLLBACK and not follower.ended
    assert follower.ended and result.status is HostStatus.ROLLED_BACK


def test_status_reads_a_rolled_back_summary() -> None:
    result = new_result(make_host("nas", ("web",)))
    summary = {
        "run_id": ROLLBACK, "status": "rolled_back", "last_stage": "complete",
        "failed_stage": "verify", "failed_service": "web", "services": {"web": "completed"},
        "error": ERROR, "failed_run": FAILED, "rolled_back_to": GOOD, "log": "/r/l.log",
    }  # fmt: skip
    apply_status(result, {"last_run": summary, "running": None})
    assert result.status is HostStatus.ROLLED_BACK and result.error == ERROR
    assert result.to_json()["rolled_back_to"] == GOOD
    assert result.services["web"] is ServiceState.FAILED and result.last_stage == "verify"


def test_the_notification_lists_both_steps() -> None:
    result = _fold([*_failed_run(), *_rollback_run(ROLLED_BACK_END)])
    report = FleetReport(run_id="r1", hosts={"nas": result}).to_json()
    body = build_message(report, "deploy", mask=lambda text: text).body
    assert "nas: rolled_back at verify, service web" in body
    assert "1. verify failed for web" in body and f"2. rolled back to release {GOOD}" in body


def test_on_failure_from_the_inventory_and_over_it_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    text = """\
        defaults: {on_failure: rollback}
        hosts:
          nas: {services: [web]}
          pi: {services: [dns], on_failure: stop}
        """
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    nas, pi = load_inventory(path).hosts
    assert (nas.on_failure, pi.on_failure) == ("rollback", "stop")
    assert job_fields(nas, JobSettings(run_id="r"))["on_failure"] == "rollback"
    assert job_fields(nas, JobSettings(run_id="r", on_failure="stop"))["on_failure"] == "stop"
    assert job_fields(pi, JobSettings(run_id="r", on_failure="rollback"))["on_failure"] == (
        "rollback"
    )


def test_the_html_timeline_shows_the_failed_run_and_the_rollback_on_one_row(
    tmp_path: Path,
) -> None:
    from controller.htmlreport.render import render_run
    from controller.report.store import RunStore

    lines = [*_failed_run(), *_rollback_run(ROLLED_BACK_END)]
    recorder = RunStore(tmp_path).new_run(FAILED)
    log = recorder.host_log("nas")
    for second, line in enumerate(lines):
        event = json.loads(line[len(b"[STRUCT] ") :])
        log.write(struct(**event, ts=f"2026-12-06T10:15:{second:02d}Z"))
    log.close()
    recorder.save(FleetReport(run_id=FAILED, hosts={"nas": _fold(lines)}))
    page = render_run(recorder.dir)
    assert "✗ verify failed" in page and "↶ rollback" in page
    assert f"rollback run of failed run {FAILED} to release {GOOD}" in page
    assert f"rolled back to release {GOOD}" in page


def test_after_an_early_drop_the_log_is_found_through_the_rollback_run() -> None:
    """The link dropped before run_started arrived and the host is rolling back now: the
    follower finds the log by the rollback's run id instead of starting the run again."""
    import asyncio

    from controller.transport.connector import CommandResult

    class StatusOnly:
        root = "/r"

        async def runner(self, args: list[str], *rest: object, **kw: object) -> CommandResult:
            running = {"run_id": ROLLBACK, "pid": 1, "log": "/r/logs/deploy/d.log"}
            return CommandResult(0, json.dumps({"running": running}).encode(), b"")

    result = new_result(make_host("nas", ("web",)))
    follower = Follower(StatusOnly(), result, FAILED, lambda r, e: None, None, lambda n: None)  # type: ignore[arg-type]
    assert asyncio.run(follower._find_log())
    assert result.log == "/r/logs/deploy/d.log"
