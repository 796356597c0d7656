"""One run on this host: take the lock, set up state and log, run the stages, then
diagnose (on failure) and complete. Always ends the log with run_completed or run_failed."""

from __future__ import annotations

import os
import time

from remote.docker.redact import scrubber_for
from remote.kit import signals
from remote.protocol import LOCK_FILE, LOG_DIR, STATE_DIR, Exit
from remote.run import releases
from remote.run.context import COMPLETED, SKIPPED, Context
from remote.run.job import Job
from remote.run.lock import RunLock, describe_holder
from remote.run.runlog import RunLog, create_exclusive, file_ts, iso_ts, utc_now
from remote.run.stages import STAGE_ACTIONS, StageFailed
from remote.run.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, Callable, Dict, List, Optional

    from remote.run.runlog import Clock, Sink


class Interrupted(BaseException):
    """A signal asked the run to stop; the current stage fails cleanly."""

    def __init__(self, signum: int) -> None:
        super(Interrupted, self).__init__(signals.name(signum))
        self.signame = signals.name(signum)


class Failure(object):
    """Where a run failed and why."""

    def __init__(self, stage: str, service: Optional[str], message: str) -> None:
        self.stage = stage
        self.service = service
        self.message = message


def new_lock(root: str) -> RunLock:
    return RunLock(os.path.join(root, LOCK_FILE))


def holder_info(job: Job) -> Dict[str, Any]:
    return {
        "run_id": job.run_id,
        "pid": os.getpid(),
        "started": iso_ts(utc_now()),
        "host": job.host,
    }


def execute(root: str, job: Job, resume: bool, echo: Optional[Sink], lock: RunLock) -> int:
    """Run the stages under the held lock, release it, and return an Exit code."""
    try:
        with SignalGuard() as guard:
            log = _open_log(root, job, echo, utc_now)
            # Names this process (a detached run is not the one that took the lock) and
            # its log, so that `status` and a re-attach find them.
            lock.describe(dict(lock.holder, pid=os.getpid(), log=log.path))
            try:
                return Run(root, job, resume, log, guard, utc_now).go(lock.stale_holder)
            finally:
                log.close()
    finally:
        lock.release()


def _open_log(root: str, job: Job, echo: Optional[Sink], clock: Clock) -> RunLog:
    log_dir = os.path.join(root, LOG_DIR)
    if not os.path.isdir(log_dir):
        os.makedirs(log_dir, 0o755)
    handle, path = create_exclusive(log_dir, "deploy_" + file_ts(clock()), ".log")
    scrub = scrubber_for(root, job.services, job.host)
    return RunLog(handle, path, job.host, job.run_id, echo, clock, scrub)


class SignalGuard(object):
    """SIGTERM and SIGINT fail the current stage (raised as Interrupted while armed; later
    ones are ignored so that diagnose and the summary still get written).
    SIGHUP is ignored: a dropped terminal never stops a run."""

    SIGNALS = (signals.SIGTERM, signals.SIGINT)

    def __init__(self) -> None:
        self.armed = False
        self._saved: Dict[int, Any] = {}

    def __enter__(self) -> "SignalGuard":
        for signum in (*self.SIGNALS, signals.SIGHUP):
            self._saved[signum] = signals.getsignal(signum)
        for signum in self.SIGNALS:
            signals.signal(signum, self._handle)
        signals.signal(signals.SIGHUP, signals.SIG_IGN)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._saved.items():
            signals.signal(signum, handler)

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.armed:
            self.armed = False
            raise Interrupted(signum)


class Run(object):
    def __init__(
        self,
        root: str,
        job: Job,
        resume: bool,
        log: RunLog,
        guard: SignalGuard,
        clock: Clock,
    ) -> None:
        self.state = State(os.path.join(root, STATE_DIR))
        self.ctx = Context(root, job, self.state, log, resume, log.scrub)
        self.job = job
        self.log = log
        self.guard = guard
        self.clock = clock
        self.started = clock()
        self.started_monotonic = time.monotonic()
        self.last_stage: Optional[str] = None
        self.diagnostics_path: Optional[str] = None

    def go(self, stale_holder: Optional[Dict[str, Any]]) -> int:
        mode = "resuming" if self.ctx.resume else "fresh run"
        kind = self.job.kind
        if self.ctx.resume and kind == "deploy":
            kind = "resume"  # `fleet-runner.pyz --resume` by hand, on a saved deploy plan
        self.log.event(
            "run_started",
            status="running",
            kind=kind,
            path=self.log.path,
            message="%s: %s" % (mode, ", ".join(self.job.services)),
        )
        if stale_holder:
            self.log.event(
                "warning",
                message="took over the lock of %s: its process is gone"
                % describe_holder(stale_holder),
            )
        target = None
        if self.job.kind == "rollback" and not self.ctx.resume:
            try:
                target = releases.choose_for(self.ctx, self.state.read_summary())
            except releases.RollbackError as exc:
                return self._no_rollback(str(exc))
        if not self.ctx.resume:
            self.state.clear()
        elif self.state.is_complete("complete"):
            return self._already_complete()
        else:
            # The earlier failure's diagnose marker: `status` must not list it as this
            # run's (diagnose runs on every failure, marker or not).
            self.state.unmark("diagnose")
        releases.begin(self.ctx, target)
        self._write_summary("running")
        failure = self._run_stages()
        if failure is None:
            return self._complete()
        self._diagnose(failure)
        return self._finish_failed(failure)

    def _run_stages(self) -> Optional[Failure]:
        self.guard.armed = True
        try:
            for stage, action in STAGE_ACTIONS.items():
                self.last_stage = stage
                if self.ctx.resume and self.state.is_complete(stage):
                    self.log.event("stage_skipped", stage=stage, status=SKIPPED)
                    self._mark_services_skipped(stage)
                    continue
                failure = self._run_stage(stage, action)
                if failure is not None:
                    return failure
            return None
        except Interrupted as exc:
            return self._stage_failed(
                self.last_stage or "prepare", "interrupted by %s" % exc.signame
            )
        finally:
            self.guard.armed = False

    def _run_stage(self, stage: str, action: Callable[[Context], str]) -> Optional[Failure]:
        self.state.set_current_stage(stage)
        self.log.event("stage_started", stage=stage)
        started = time.monotonic()
        try:
            message = action(self.ctx)
        except StageFailed as exc:
            return self._stage_failed(stage, exc.message, exc.service)
        except Exception as exc:  # a bug or a broken host (disk full): still end the run
            import traceback  # only here: importing it compiles tokenize's regexes (~40 ms)

            self.log.say(traceback.format_exc())
            return self._stage_failed(stage, "unexpected error: %s" % exc)
        self.state.mark_complete(stage)
        self.log.event(
            "stage_completed",
            stage=stage,
            status=COMPLETED,
            duration_ms=_ms_since(started),
            message=message,
        )
        return None

    def _stage_failed(self, stage: str, message: str, service: Optional[str] = None) -> Failure:
        service = service or self.ctx.current_service
        if service is not None and self.ctx.services.get(service) != COMPLETED:
            self.ctx.services[service] = "failed"
        self.log.event(
            "stage_failed", stage=stage, service=service, status="failed", message=message
        )
        return Failure(stage, service, message)

    def _mark_services_skipped(self, stage: str) -> None:
        if stage == "deploy":
            for name in self.ctx.services:
                self.ctx.services[name] = SKIPPED

    def _diagnose(self, failure: Failure) -> None:
        self.state.set_current_stage("diagnose")
        self.log.event("stage_started", stage="diagnose")
        started = time.monotonic()
        from remote.run import diagnostics

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
            "stage_completed", stage="diagnose", status=COMPLETED, duration_ms=_ms_since(started)
        )

    def _complete(self) -> int:
        self.last_stage = "complete"
        self.state.set_current_stage("complete")
        self.log.event("stage_started", stage="complete")
        self._record_release()
        self.state.mark_complete("complete")
        self.log.event("stage_completed", stage="complete", status=COMPLETED)
        return self._run_completed(None)

    def _no_rollback(self, why: str) -> int:
        """Nothing to roll back to: fail before the state is touched, so that the host's
        last run (its summary, markers and resume) stands as it was."""
        self.last_stage = "prepare"
        failure = Failure("prepare", None, "rollback: %s" % why)
        self.log.event("stage_failed", stage="prepare", status="failed", message=failure.message)
        self.log.say("nothing was changed on this host: its state is the previous run's")
        self.log.event(
            "run_failed", stage="prepare", status="failed",
            duration_ms=_ms_since(self.started_monotonic), message=_error(failure),
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

    def _finish_failed(self, failure: Failure) -> int:
        summary = self._write_summary("failed", failure)
        self._print_summary(summary)
        self.log.event(
            "run_failed",
            stage=failure.stage,
            service=failure.service,
            status="failed",
            duration_ms=_ms_since(self.started_monotonic),
            message=_error(failure),
            path=self.diagnostics_path,
        )
        return Exit.FAILED

    def _already_complete(self) -> int:
        previous = self.state.read_summary() or {}
        self.last_stage = "complete"
        for name in self.ctx.services:
            self.ctx.services[name] = SKIPPED
        return self._run_completed(
            "already completed by run %s: nothing to do" % previous.get("run_id", "?")
        )

    def _run_completed(self, message: Optional[str]) -> int:
        """Summary, then the run's last line: run_completed (message: service counts)."""
        summary = self._write_summary(COMPLETED)
        self._print_summary(summary)
        self.log.event(
            "run_completed",
            status=COMPLETED,
            duration_ms=_ms_since(self.started_monotonic),
            message=message or _service_counts(summary["services"]),
        )
        return Exit.OK

    def _write_summary(self, status: str, failure: Optional[Failure] = None) -> Dict[str, Any]:
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
        self.state.write_summary(summary)
        return summary

    def _print_summary(self, summary: Dict[str, Any]) -> None:
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
        self.log.say("\n".join(lines))


def _error(failure: Failure) -> str:
    return "%s failed: %s" % (failure.stage, failure.message)


def _service_counts(services: Dict[str, str]) -> str:
    counts: List[str] = []
    for status in ("completed", "skipped", "failed", "pending"):
        count = sum(1 for value in services.values() if value == status)
        if count:
            counts.append("%d %s" % (count, status))
    return ", ".join(counts)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
