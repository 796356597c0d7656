"""Pure functions from what a host answered to its HostResult: exit codes, the status
JSON, a failed connect, a link that stayed away. No I/O here."""

from __future__ import annotations

from typing import Any

from controller.errors import last_line, one_line
from controller.report.events import Event, apply
from controller.report.model import HostResult, HostStatus, RollbackStep, ServiceState
from controller.report.problems import Problem
from controller.transport.connector import CommandResult, ConnectError
from controller.transport.shell import NO_PYTHON
from inventory import Host
from remote.protocol import INTERRUPTED, Exit


def new_result(host: Host) -> HostResult:
    """A host's result before anything happened: every service pending."""
    return HostResult(name=host.name, services={svc: ServiceState.PENDING for svc in host.services})


def fail(result: HostResult, problem: Problem, message: str) -> None:
    result.status = HostStatus.FAILED
    result.problem = problem
    result.error = message


def unreachable(result: HostResult, err: ConnectError) -> None:
    result.status = HostStatus.UNREACHABLE
    result.problem = err.problem
    result.error = one_line(str(err))


def disconnected(result: HostResult, why: str, reconnect_timeout: float) -> None:
    """The link dropped and did not come back in time: the host goes on alone, and the
    report's next command for it is `fleet resume` (report/problems.py)."""
    result.status = HostStatus.DISCONNECTED
    result.problem = Problem.LINK_LOST
    where = f" during {result.stage or result.last_stage}" if result.last_stage else ""
    result.error = one_line(
        f"link lost{where}; not back within {reconnect_timeout:g} s ({why}); "
        "the run goes on on the host by itself"
    )


def conclude(result: HostResult, res: CommandResult) -> None:
    """How a followed run ended, from the runner's exit code."""
    code = res.exit_status
    if result.status is HostStatus.ROLLED_BACK:
        return  # its terminal event said so; the runner's exit code (1) adds nothing
    if code == Exit.OK:
        apply(result, Event(event="run_completed"))
    elif code == Exit.FAILED:
        if result.status is not HostStatus.FAILED and result.log is None:
            # The forked run died before opening its log; its last stderr line says why
            # (`fleet-runner: <reason>`, after any traceback).
            why = last_line(res.stderr.decode(errors="replace")) or "the run did not start"
            fail(result, Problem.RUNNER_ERROR, why)
        elif result.status is not HostStatus.FAILED:
            apply(result, Event(event="run_failed"))
    elif code == Exit.LOCKED:
        if result.problem is not Problem.REFUSED_LOCKED:
            apply(result, Event(event="run_failed", status="refused"))
    elif code == Exit.VANISHED:
        fail(
            result,
            Problem.RUN_VANISHED,
            "the run stopped before finishing (runner killed or host restarted)",
        )
    else:
        runner_trouble(result, res)


def runner_trouble(result: HostResult, res: CommandResult) -> None:
    """The runner could not run at all (no python3, too old, no archive) or exited oddly."""
    stderr = res.stderr.decode(errors="replace")
    if res.exit_status == NO_PYTHON:
        fail(result, Problem.NO_PYTHON, "python3 not found on host (the runner needs >= 3.8)")
    elif res.exit_status == Exit.OLD_PYTHON:
        msg = one_line(stderr) or "python3 on the host is older than 3.8"
        fail(result, Problem.OLD_PYTHON, msg)
    elif res.exit_status == Exit.NO_RUNNER:
        fail(result, Problem.RUNNER_ERROR, "runner upload did not take (still missing)")
    else:
        detail = one_line(stderr) or "no message"
        fail(result, Problem.RUNNER_ERROR, f"runner exited {res.exit_status}: {detail}")


def apply_status(result: HostResult, data: dict[str, Any]) -> None:
    """Fill a host's result from the runner's `status` JSON (internals.md)."""
    last = data.get("last_run") if isinstance(data.get("last_run"), dict) else None
    running = data.get("running") if isinstance(data.get("running"), dict) else None
    result.last_stage = data.get("current_stage")
    result.last_service = data.get("last_service")
    if last is not None:
        for svc, state in (last.get("services") or {}).items():
            if svc in result.services or state != ServiceState.PENDING.value:
                result.services[svc] = ServiceState(state)
        result.last_stage = last.get("last_stage") or result.last_stage
        result.failed_stage = last.get("failed_stage")
        result.log = last.get("log")
        result.diagnostics = last.get("diagnostics")
        result.error = last.get("error")
        _apply_rollback(result, last)
    if running is not None:
        result.status = HostStatus.RUNNING
        result.log = running.get("log") or result.log
        result.error = None
        result.failed_stage = None
        return
    _apply_last_state(result, last.get("status") if last is not None else None)


def _apply_last_state(result: HostResult, state: object) -> None:
    if state == "completed":
        result.status = HostStatus.COMPLETED
    elif state == HostStatus.ROLLED_BACK.value:
        result.status = HostStatus.ROLLED_BACK
        result.problem = Problem.ROLLED_BACK
    elif state == "failed":
        result.status = HostStatus.FAILED
        result.problem = Problem.STAGE_FAILED
    elif state == INTERRUPTED:
        fail(
            result,
            Problem.RUN_VANISHED,
            "the last run stopped before finishing (runner killed or host restarted)",
        )
    else:
        fail(result, Problem.NEVER_DEPLOYED, "never deployed by fleet")


def _apply_rollback(result: HostResult, last: dict[str, Any]) -> None:
    """A summary of a rollback of a failed run (remote/run/autorollback.py): both steps."""
    if not last.get("failed_run"):
        return
    result.rollback = RollbackStep(
        failed_run=str(last["failed_run"]),
        run_id=last.get("run_id"),
        failed_service=last.get("failed_service"),
        release=last.get("rolled_back_to"),
    )
    service = last.get("failed_service")
    if last.get("status") == HostStatus.ROLLED_BACK.value and service in result.services:
        result.services[service] = ServiceState.FAILED
        result.last_stage = last.get("failed_stage") or result.last_stage
