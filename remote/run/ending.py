"""How a run ends: diagnose (on failure) or complete, the summary, and the log's last
line, run_completed or run_failed (docs/internals.md)."""

from __future__ import annotations

import time

from remote.protocol import Exit
from remote.run import autorollback, releases
from remote.run.context import COMPLETED, SKIPPED
from remote.run.runlog import iso_ts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from remote.run.context import Context
    from remote.run.runlog import Clock


class Failure(object):
    """Where a run failed and why."""

    def __init__(self, stage: str, service: Optional[str], message: str) -> None:
        self.stage = stage
        self.service = service
        self.message = message

    def parts(self) -> Tuple[str, Optional[str], str]:
        return self.stage, self.service, self.message


class Ending(object):
    """The run's times and how far it got, and the steps that end it."""

    def __init__(self, ctx: Context, clock: Clock) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.log = ctx.log
        self.job = ctx.job
        self.clock = clock
        self.started = clock()
        self.started_monotonic = time.monotonic()
        self.last_stage: Optional[str] = None
        self.diagnostics_path: Optional[str] = None

    def diagnose(self, failure: Failure) -> None:
        self.state.set_current_stage("diagnose")
        self.log.event("stage_started", stage="diagnose")
        started = time.monotonic()
        from remote.run import diagnostics  # only a failed run needs it

        try:
            path = diagnostics.collect(
                self.ctx, failure.stage, failure.service, _error(failure), self.clock
            )
        except Exception as exc:
            self.log.event("warning", stage="diagnose", message="diagnostics failed: %s" % exc)
            self.log.event("stage_failed", stage="diagnose", status="failed", message=str(exc))
            return
        self.diagnostics_path = path
        self.log.event("diagnostics_collected", stage="diagnose", path=path)
        self.state.mark_complete("diagnose")
        self.log.event(
            "stage_completed", stage="diagnose", status=COMPLETED, duration_ms=ms_since(started)
        )

    def complete(self) -> int:
        self.last_stage = "complete"
        self.state.set_current_stage("complete")
        self.log.event("stage_started", stage="complete")
        self._record_release()
        self.state.mark_complete("complete")
        self.log.event("stage_completed", stage="complete", status=COMPLETED)
        return self._run_completed(None)

    def no_rollback(self, why: str) -> int:
        """Nothing to roll back to: fail before the state is touched, so that the host's
        last run (its summary, markers and resume) stands as it was."""
        self.last_stage = "prepare"
        failure = Failure("prepare", None, "rollback: %s" % why)
        self.log.event("stage_failed", stage="prepare", status="failed", message=failure.message)
        self.log.say("nothing was changed on this host: its state is the previous run's")
        self.log.event(
            "run_failed", stage="prepare", status="failed",
            duration_ms=ms_since(self.started_monotonic), message=_error(failure),
        )  # fmt: skip
        return Exit.FAILED

    def _record_release(self) -> None:
        """releases/<run_id>.json and last_good; a failure to record is a warning, since
        the services themselves are deployed and healthy."""
        try:
            path = releases.record_release(self.ctx, iso_ts(self.started), iso_ts(self.clock()))
        except Exception as exc:
            self.log.event("warning", stage="complete", message="release not recorded: %s" % exc)
            return
        self.log.event(
            "release_recorded", stage="complete", status=COMPLETED, path=path,
            message="release %s recorded" % self.job.run_id,
        )  # fmt: skip

    def failed(self, failure: Failure, **rollback: Optional[str]) -> int:
        """`rollback`: rollback_run and release when a rollback goes on in this log."""
        summary = self.write_summary("failed", failure)
        self.log.say(summary_text(summary))
        self.log.event(
            "run_failed",
            stage=failure.stage,
            service=failure.service,
            status="failed",
            duration_ms=ms_since(self.started_monotonic),
            message=summary["error"],
            path=self.diagnostics_path,
            **dict(autorollback.end_fields(summary, None), **rollback),
        )
        return Exit.FAILED

    def already_complete(self) -> int:
        previous = self.state.read_summary() or {}
        self.last_stage = "complete"
        for name in self.ctx.services:
            self.ctx.services[name] = SKIPPED
        return self._run_completed(
            "already completed by run %s: nothing to do" % previous.get("run_id", "?")
        )

    def _run_completed(self, message: Optional[str]) -> int:
        """Summary, then the run's last line: run_completed (message: service counts)."""
        summary = self.write_summary(COMPLETED)
        self.log.say(summary_text(summary))
        fields: Dict[str, Any] = {
            "status": COMPLETED,
            "message": message or _service_counts(summary["services"]),
        }
        fields.update(autorollback.end_fields(summary, message))  # rolled_back: a failure
        self.log.event("run_completed", duration_ms=ms_since(self.started_monotonic), **fields)
        return Exit.OK if fields["status"] == COMPLETED else Exit.FAILED

    def write_summary(self, status: str, failure: Optional[Failure] = None) -> Dict[str, Any]:
        finished = None if status == "running" else self.clock()
        summary: Dict[str, Any] = {
            "host": self.job.host,
            "run_id": self.job.run_id,
            "status": status,
            "last_stage": self.last_stage,
            "failed_stage": failure.stage if failure else None,
            "failed_service": failure.service if failure else None,
            "services": dict(self.ctx.services),
            "log": self.log.path,
            "diagnostics": self.diagnostics_path,
            "error": self.log.scrub(_error(failure)) if failure else None,
            "started": iso_ts(self.started),
            "finished": iso_ts(finished) if finished else None,
            "duration_s": round(time.monotonic() - self.started_monotonic, 3) if finished else None,
        }
        autorollback.amend(summary, self.state)
        self.state.write_summary(summary)
        return summary


def summary_text(summary: Dict[str, Any]) -> str:
    """The host summary: human lines printed just before the terminal event."""
    where = ""
    if summary["failed_stage"]:
        where = " (failed"
        if summary["failed_service"]:
            where += " at service %s" % summary["failed_service"]
        where += ")"
    lines = [
        "---- host summary: %s ----" % summary["host"],
        "status:      %s" % summary["status"],
        "last stage:  %s%s" % (summary["last_stage"], where),
        "services:    %s" % _service_counts(summary["services"]),
        "log:         %s" % summary["log"],
        "diagnostics: %s" % (summary["diagnostics"] or "none"),
    ]
    if summary["error"]:
        lines.append("error:       %s" % summary["error"])
    return "\n".join(lines)


def _error(failure: Failure) -> str:
    return "%s failed: %s" % (failure.stage, failure.message)


def _service_counts(services: Dict[str, str]) -> str:
    counts: List[str] = []
    for status in ("completed", "skipped", "failed", "pending"):
        count = sum(1 for value in services.values() if value == status)
        if count:
            counts.append("%d %s" % (count, status))
    return ", ".join(counts)


def ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
