"""One run on this host: take the lock, set up state and log, run the stages, then
diagnose (on failure) and complete. Always ends the log with run_completed or run_failed."""

from __future__ import annotations

import os
import time

from remote.docker.redact import scrubber_for
from remote.kit import signals
from remote.kit.atomic import ensure_dir
from remote.protocol import LOCK_FILE, LOG_DIR, NOTHING_TO_ROLL_BACK, STATE_DIR
from remote.run import autorollback, releases, runners
from remote.run.context import COMPLETED, SKIPPED, Context
from remote.run.ending import Ending, Failure, ms_since
from remote.run.job import Job, save_job
from remote.run.lock import RunLock, describe_holder
from remote.run.runlog import RunLog, create_exclusive, file_ts, iso_ts, utc_now
from remote.run.secrets import write_secrets
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
            # Before the log opens: its scrubber reads the .env files as written.
            written = write_secrets(root, job.secrets) if job.secrets else []
            log = _open_log(root, job, echo, utc_now)
            # Names this process (a detached run is not the one that took the lock) and
            # its log, so that `status` and a re-attach find them.
            lock.describe(dict(lock.holder, pid=os.getpid(), log=log.path))
            try:
                run = Run(root, job, resume, log, guard, utc_now, lock)
                run.secrets_written = written
                return run.go(lock.stale_holder)
            finally:
                log.close()
    finally:
        lock.release()


def _open_log(root: str, job: Job, echo: Optional[Sink], clock: Clock) -> RunLog:
    log_dir = os.path.join(root, LOG_DIR)
    ensure_dir(log_dir)
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
        lock: Optional[RunLock] = None,
    ) -> None:
        self.state = State(os.path.join(root, STATE_DIR))
        self.ctx = Context(root, job, self.state, log, resume, log.scrub)
        self.job = job
        self.log = log
        self.guard = guard
        self.clock = clock
        self.lock = lock
        self.end = Ending(self.ctx, clock)
        self.secrets_written: List[str] = []  # services whose .env the job's secrets changed

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
            **autorollback.started_fields(self.job),
        )
        if stale_holder:
            self.log.event(
                "warning",
                message="took over the lock of %s: its process is gone"
                % describe_holder(stale_holder),
            )
        if self.secrets_written:
            names = ", ".join(self.secrets_written)
            self.log.say(".env written from the controller's secrets for: %s" % names)
        removed = runners.prune_runners(self.ctx.root, runners.running_version())
        if removed:
            self.log.say("removed old runner versions: %s" % ", ".join(removed))
        target = None
        if self.job.kind == "rollback" and not self.ctx.resume:
            try:
                target = releases.choose_for(self.ctx, self.state.read_summary())
            except releases.RollbackError as exc:
                return self.end.no_rollback(str(exc))
        if not self.ctx.resume:
            self.state.clear()
        elif self.state.is_complete("complete"):
            return self.end.already_complete()
        else:
            # The earlier failure's diagnose marker: `status` must not list it as this
            # run's (diagnose runs on every failure, marker or not).
            self.state.unmark("diagnose")
        releases.begin(self.ctx, target)
        if not self.ctx.resume:
            autorollback.remember(self.ctx)
        self.end.write_summary("running")
        stages = StageSequence(self.ctx, self.guard, self.end)
        failure = stages.run()
        if failure is None:
            return self.end.complete()
        self.end.diagnose(failure)
        if not stages.interrupted and autorollback.wanted(self.ctx, failure.stage):
            return self._roll_back(failure)
        return self.end.failed(failure)

    def _roll_back(self, failure: Failure) -> int:
        """on_failure: rollback. This run fails naming its rollback, which runs next in
        this process and this log (remote/run/autorollback.py)."""
        target = autorollback.last_good(self.ctx.root)
        if target is None:
            failure.message += "; " + NOTHING_TO_ROLL_BACK
            return self.end.failed(failure)
        failed = {
            "stage": failure.stage,
            "service": failure.service,
            "error": self.log.scrub(autorollback.describe(*failure.parts())),
            "diagnostics": self.end.diagnostics_path,
        }
        job = autorollback.rollback_job(self.ctx, target, failed)
        self.end.failed(failure, rollback_run=job.run_id, release=target)
        save_job(self.ctx.root, job)  # a resume by hand continues the rollback
        self.log.run_id = job.run_id
        if self.lock is not None:
            self.lock.describe(dict(self.lock.holder, run_id=job.run_id))
        rollback = Run(self.ctx.root, job, False, self.log, self.guard, self.clock, self.lock)
        return rollback.go(None)


class StageSequence(object):
    """The stages in order: each marked when it completes, skipped where a resume finds
    it complete; the first failure, or a signal (`interrupted`: no rollback), ends them."""

    def __init__(self, ctx: Context, guard: SignalGuard, end: Ending) -> None:
        self.ctx = ctx
        self.guard = guard
        self.end = end
        self.interrupted = False

    def run(self) -> Optional[Failure]:
        self.guard.armed = True
        try:
            for stage, action in STAGE_ACTIONS.items():
                self.end.last_stage = stage
                if self.ctx.resume and self.ctx.state.is_complete(stage):
                    self.ctx.log.event("stage_skipped", stage=stage, status=SKIPPED)
                    self._mark_services_skipped(stage)
                    continue
                failure = self._run_stage(stage, action)
                if failure is not None:
                    return failure
            return None
        except Interrupted as exc:
            self.interrupted = True  # stopped on purpose: no rollback
            return self._stage_failed(
                self.end.last_stage or "prepare", "interrupted by %s" % exc.signame
            )
        finally:
            self.guard.armed = False

    def _run_stage(self, stage: str, action: Callable[[Context], str]) -> Optional[Failure]:
        self.ctx.state.set_current_stage(stage)
        self.ctx.log.event("stage_started", stage=stage)
        started = time.monotonic()
        try:
            message = action(self.ctx)
        except StageFailed as exc:
            return self._stage_failed(stage, exc.message, exc.service)
        except Exception as exc:  # a bug or a broken host (disk full): still end the run
            import traceback  # only here: importing it compiles tokenize's regexes (~40 ms)

            self.ctx.log.say(traceback.format_exc())
            return self._stage_failed(stage, "unexpected error: %s" % exc)
        self.ctx.state.mark_complete(stage)
        self.ctx.log.event(
            "stage_completed",
            stage=stage,
            status=COMPLETED,
            duration_ms=ms_since(started),
            message=message,
        )
        return None

    def _stage_failed(self, stage: str, message: str, service: Optional[str] = None) -> Failure:
        service = service or self.ctx.current_service
        if service is not None and self.ctx.services.get(service) != COMPLETED:
            self.ctx.services[service] = "failed"
        self.ctx.log.event(
            "stage_failed", stage=stage, service=service, status="failed", message=message
        )
        return Failure(stage, service, message)

    def _mark_services_skipped(self, stage: str) -> None:
        if stage == "deploy":
            for name in self.ctx.services:
                self.ctx.services[name] = SKIPPED
