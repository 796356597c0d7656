"""[STRUCT] lines from the runner, parsed into events and folded into a host's result."""

from __future__ import annotations

from dataclasses import dataclass

from controller.report.model import HostResult, HostStatus, RollbackStep, ServiceState
from controller.report.problems import Problem
from remote.docker.access import NO_DOCKER_ACCESS
from remote.protocol import (
    BUILD_PROGRESS,
    NOTHING_TO_ROLL_BACK,
    PULL_PROGRESS,
    REFUSED,
    TERMINAL_EVENTS,
)
from remote.run.runlog import parse_struct_line

_TERMINAL = frozenset(TERMINAL_EVENTS)
# Not a runner event: a human line the runner pushes while it pulls an image.
PROGRESS = "progress"


@dataclass(frozen=True, slots=True)
class Event:
    """One [STRUCT] event (docs/design.md), the keys the controller reads; absent keys are None."""

    event: str
    run_id: str | None = None
    stage: str | None = None
    service: str | None = None
    status: str | None = None
    message: str | None = None
    path: str | None = None
    duration_ms: int | None = None
    rollback_run: str | None = None  # run_failed: a rollback goes on in this log (on_failure)
    failed_run: str | None = None  # a rollback of a failed run: its start and its end
    release: str | None = None  # ... the release it goes back to

    @property
    def terminal(self) -> bool:
        """True for run_completed / run_failed: the run's log ends here."""
        return self.event in _TERMINAL


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_line(line: bytes) -> Event | None:
    """The event on a log line, or None for a plain line or a malformed one."""
    data = parse_struct_line(line)
    if data is None:
        return _progress(line)
    if not isinstance(data.get("event"), str):
        return None
    return Event(
        event=data["event"],
        run_id=_str(data.get("run_id")),
        stage=_str(data.get("stage")),
        service=_str(data.get("service")),
        status=_str(data.get("status")),
        message=_str(data.get("message")),
        path=_str(data.get("path")),
        duration_ms=_int(data.get("duration_ms")),
        rollback_run=_str(data.get("rollback_run")),
        failed_run=_str(data.get("failed_run")),
        release=_str(data.get("release")),
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _progress(line: bytes) -> Event | None:
    """`<ts> pulling|building IMAGE for SVC` as a progress event, for the host's note."""
    _, _, text = line.decode("utf-8", "replace").strip().partition(" ")
    if not text.startswith((PULL_PROGRESS, BUILD_PROGRESS)):
        return None
    return Event(event=PROGRESS, message=text)


def _service_state(result: HostResult, svc: str | None, state: ServiceState) -> None:
    if svc is not None:
        result.services[svc] = state


def apply(result: HostResult, ev: Event) -> None:
    """Fold one event into the host's result (the host's own session calls this)."""
    kind = ev.event
    step = result.rollback
    if step is not None and ev.run_id == step.run_id and not ev.terminal:
        _rollback_progress(result, ev)
        return
    if ev.stage is not None and kind.startswith("stage_"):
        result.stage = ev.stage
        # As the runner's summary counts it: diagnose is never the stage a run reached,
        # so a failed run's last_stage is the stage that failed.
        if ev.stage != "diagnose":
            result.last_stage = ev.stage
    if kind == "stage_started":
        result.service = None  # the live view shows a service only while one is deployed
    if kind == PROGRESS:
        result.note = ev.message
    elif kind == "image_pulled" or (kind == "stage_completed" and ev.stage == "prepare"):
        result.note = None
    if kind == "run_started":
        if ev.path:
            result.log = ev.path
    elif kind == "stage_failed":
        result.failed_stage = ev.stage
        if ev.message and result.error is None:
            result.error = ev.message
    elif kind == "service_started":
        result.service = ev.service
    elif kind == "service_completed":
        _service_state(result, ev.service, ServiceState.COMPLETED)
        result.last_service = ev.service or result.last_service
        result.service = None
    elif kind == "service_skipped":
        _service_state(result, ev.service, ServiceState.SKIPPED)
        result.last_service = ev.service or result.last_service
    elif kind == "service_failed":
        _service_state(result, ev.service, ServiceState.FAILED)
        if ev.message:
            result.error = ev.message
    elif kind == "diagnostics_collected":
        result.diagnostics = ev.path or result.diagnostics
    elif kind == "warning":
        if ev.message:
            result.warnings.append(ev.message)
    elif kind == "run_completed" and ev.status == HostStatus.ROLLED_BACK.value:
        _fold_rolled_back(result, ev)
    elif kind == "run_completed":
        result.status = HostStatus.COMPLETED
        result.problem = Problem.NONE
        result.error = None
        result.service = None
    elif kind == "run_failed":
        _fold_run_failed(result, ev)


def _fold_run_failed(result: HostResult, ev: Event) -> None:
    result.status = HostStatus.FAILED
    result.service = None
    if ev.failed_run is not None:  # a rollback that failed too: the runner says both causes
        _rollback_step(result, ev).release = None
        result.problem = Problem.STAGE_FAILED
        result.failed_stage = result.failed_stage or ev.stage
        result.error = ev.message or result.error
        return
    if ev.status == REFUSED:
        result.problem = Problem.REFUSED_LOCKED
        result.error = f"refused: {ev.message}" if ev.message else "refused: host is locked"
        return
    result.problem = Problem.STAGE_FAILED
    if ev.path and result.diagnostics is None and "diagnostics" in ev.path:
        result.diagnostics = ev.path
    stage = result.failed_stage or ev.stage
    if result.failed_stage is None:
        result.failed_stage = stage
    svc = result.failed_service
    where = f"{svc} failed in {stage}" if svc else f"stage {stage} failed"
    detail = result.error or ev.message
    result.error = f"{where}: {detail}" if detail else where
    if ev.message and ev.message.endswith(NOTHING_TO_ROLL_BACK):  # on_failure: rollback
        result.error += f"; {NOTHING_TO_ROLL_BACK}"
    if detail and NO_DOCKER_ACCESS in detail:  # remote/access.py: no retry, no resume mends it
        result.problem = Problem.NO_DOCKER_ACCESS
    if ev.rollback_run is not None:
        # The failed run's end, and the first of two steps: the rollback starts now.
        result.status = HostStatus.RUNNING
        result.rollback = RollbackStep(
            run_id=ev.rollback_run,
            failed_run=ev.run_id,
            failed_service=svc,
            release=ev.release,
        )
        result.note = f"rolling back to release {ev.release}"


def _rollback_step(result: HostResult, ev: Event) -> RollbackStep:
    """The host's rollback step, made from the rollback's own end when its start was not
    seen (a re-attach, a resume after it)."""
    if result.rollback is None:
        result.rollback = RollbackStep(run_id=ev.run_id, failed_run=ev.failed_run)
    return result.rollback


def _rollback_progress(result: HostResult, ev: Event) -> None:
    """The rollback's events move the live view (stage, service, note) only: the failed
    run's stage, services and error stay the host's outcome."""
    if ev.event == "run_started":
        result.note = f"rolling back to release {ev.release}" if ev.release else "rolling back"
    elif ev.event.startswith("stage_"):
        result.stage, result.service = ev.stage, None
    elif ev.event == "service_started":
        result.service = ev.service
    elif ev.event == "warning" and ev.message:
        result.warnings.append(ev.message)


def _fold_rolled_back(result: HostResult, ev: Event) -> None:
    step = _rollback_step(result, ev)
    step.release = ev.release
    step.failed_service = ev.service or step.failed_service
    result.status = HostStatus.ROLLED_BACK
    result.problem = Problem.ROLLED_BACK
    result.service = None
    result.note = None
    result.error = ev.message
    result.failed_stage = ev.stage or result.failed_stage
    result.last_stage = result.failed_stage or result.last_stage
    if ev.service in result.services:
        result.services[ev.service] = ServiceState.FAILED
