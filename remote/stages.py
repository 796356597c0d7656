"""The stages that change or check the host: prepare, validate, deploy, verify.

(diagnose and complete close a run; remote.run drives them.) Each stage returns a
one-line message for its stage_completed event or raises StageFailed.
"""

from __future__ import annotations

import os
import time

from remote import compose, images, procs
from remote.events import RunLog
from remote.plan import Plan
from remote.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Tuple

# verify polls soon (a healthcheck often passes within a second of `up`), then less often.
FIRST_POLL_S = 0.2
MAX_POLL_S = 2.0
COMPLETED, SKIPPED, FAILED, PENDING = "completed", "skipped", "failed", "pending"


class StageFailed(Exception):
    """A stage could not finish; message names the service and the cause."""

    def __init__(self, message: str, service: Optional[str] = None) -> None:
        super(StageFailed, self).__init__(message)
        self.message = message
        self.service = service


class Context(object):
    """What the stages of one run share: the plan, the state, the log, the outcome."""

    def __init__(
        self,
        root: str,
        plan: Plan,
        state: State,
        log: RunLog,
        resume: bool,
        scrub: Callable[[str], str],
    ) -> None:
        self.root = root
        self.scrub = scrub
        self.plan = plan
        self.state = state
        self.log = log
        self.resume = resume
        self.services = {name: PENDING for name in plan.services}
        self.current_service: Optional[str] = None

    def files(self, name: str) -> compose.ServiceFiles:
        return compose.service_files(self.root, self.plan.repo, name)

    def timeout(self, key: str) -> float:
        return self.plan.timeouts[key]


def prepare(ctx: Context) -> str:
    return "%s; %s" % (_git_pull(ctx), images.prepare(ctx))


def _git_pull(ctx: Context) -> str:
    repo = ctx.plan.repo
    if not os.path.isdir(repo):
        ctx.log.event("warning", stage="prepare", message="the repo %s does not exist" % repo)
        return "no repo at %s" % repo
    if not os.path.exists(os.path.join(repo, ".git")):
        return "%s is not a git checkout: deploying its files as they are" % repo
    pull = procs.run(["git", "-C", repo, "pull", "--ff-only"], ctx.timeout("git_pull_s"))
    if pull.ok:
        return "git pull --ff-only in %s: %s" % (repo, procs.brief(pull.stdout, 1) or "done")
    ctx.log.event(
        "warning",
        stage="prepare",
        message="git pull --ff-only in %s failed (%s): deploying from the local checkout"
        % (repo, pull.reason()),
    )
    return "deploying from the local checkout of %s" % repo


def validate(ctx: Context) -> str:
    problems: List[Tuple[str, str]] = []
    for name in ctx.plan.services:
        problem = _validation_problem(ctx, ctx.files(name)) or images.validate_problem(ctx, name)
        if problem:
            _service_failed(ctx, "validate", name, problem)
            problems.append((name, problem))
    _fail_if_any(problems)
    return "%d services valid" % len(ctx.plan.services)


def _service_failed(
    ctx: Context, stage: str, name: str, problem: str, duration_ms: Optional[int] = None
) -> None:
    ctx.services[name] = FAILED
    ctx.log.event(
        "service_failed",
        stage=stage,
        service=name,
        status=FAILED,
        duration_ms=duration_ms,
        message=problem,
    )


def _fail_if_any(problems: List[Tuple[str, str]]) -> None:
    """Every failed service has its event; the stage fails naming the first."""
    if problems:
        first_service, first_problem = problems[0]
        more = " (and %d more services)" % (len(problems) - 1) if len(problems) > 1 else ""
        raise StageFailed(first_problem + more, first_service)


def _validation_problem(ctx: Context, files: compose.ServiceFiles) -> Optional[str]:
    if files.definition is None:
        return "service %s has no %s in %s" % (
            files.name,
            " or ".join(compose.DEFINITION_NAMES),
            files.service_dir,
        )
    argv = compose.config_argv(ctx.plan.compose_command, files)
    # Only stderr is ever looked at: config's stdout can echo .env values.
    result = procs.run(argv, ctx.timeout("compose_s"), cwd=files.service_dir)
    if result.ok:
        return None
    return "service %s: compose config failed: %s" % (files.name, result.reason())


def deploy(ctx: Context) -> str:
    skip_through = _resume_point(ctx)
    for index, name in enumerate(ctx.plan.services):
        if index <= skip_through:
            ctx.services[name] = SKIPPED
            ctx.log.event(
                "service_skipped",
                stage="deploy",
                service=name,
                status=SKIPPED,
                message="deployed by an earlier run",
            )
            continue
        _deploy_service(ctx, ctx.files(name))
    deployed = sum(1 for status in ctx.services.values() if status == COMPLETED)
    return "%d deployed, %d skipped" % (deployed, skip_through + 1)


def _resume_point(ctx: Context) -> int:
    """Index of the last service an earlier run completed, -1 to deploy them all."""
    last = ctx.state.last_service
    if not ctx.resume or last is None:
        return -1
    if last not in ctx.plan.services:
        ctx.log.say("last_service %s is not in this plan: deploying every service" % last)
        return -1
    return ctx.plan.services.index(last)


def _deploy_service(ctx: Context, files: compose.ServiceFiles) -> None:
    ctx.current_service = files.name
    ctx.log.event("service_started", stage="deploy", service=files.name)
    result = images.up(ctx, files)
    _log_output(ctx, result.stdout + result.stderr)
    if not result.ok:
        message = "service %s: compose up failed: %s" % (files.name, result.reason())
        _service_failed(ctx, "deploy", files.name, message, result.duration_ms)
        raise StageFailed(message, files.name)
    ctx.state.set_last_service(files.name)
    ctx.services[files.name] = COMPLETED
    ctx.log.event(
        "service_completed",
        stage="deploy",
        service=files.name,
        status=COMPLETED,
        duration_ms=result.duration_ms,
    )
    ctx.current_service = None


def verify(ctx: Context) -> str:
    # Only failures are service events here: service_completed/skipped belong to deploy,
    # where they say what this run did to each service.
    failures: List[Tuple[str, str]] = []
    for name in ctx.plan.services:
        ctx.current_service = name
        started = time.monotonic()
        problem = _verify_service(ctx, ctx.files(name))
        if problem is None:
            ctx.log.say("%s: healthy" % name)
            continue
        failures.append((name, problem))
        _service_failed(ctx, "verify", name, problem, int((time.monotonic() - started) * 1000))
    ctx.current_service = None
    _fail_if_any(failures)
    return "%d services healthy" % len(ctx.plan.services)


def _verify_service(ctx: Context, files: compose.ServiceFiles) -> Optional[str]:
    check = _healthcheck_problem if files.healthcheck else _containers_problem
    deadline = time.monotonic() + ctx.timeout("verify_s")
    delay = FIRST_POLL_S
    while True:
        problem = check(ctx, files)
        remaining = deadline - time.monotonic()
        if problem is None:
            return None
        if remaining <= 0:
            return "service %s is not healthy after %ss: %s" % (
                files.name,
                ctx.timeout("verify_s"),
                problem,
            )
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, MAX_POLL_S)


def _healthcheck_problem(ctx: Context, files: compose.ServiceFiles) -> Optional[str]:
    assert files.healthcheck is not None
    argv = ["sh", files.healthcheck]
    result = procs.run(argv, ctx.timeout("healthcheck_s"), cwd=files.service_dir)
    if result.ok:
        return None
    if result.timed_out:
        return "healthcheck.sh timed out after %ss" % ctx.timeout("healthcheck_s")
    output = procs.brief(result.stdout + "\n" + result.stderr, 2)
    return "healthcheck.sh exited %d%s" % (result.returncode, ": " + output if output else "")


def _containers_problem(ctx: Context, files: compose.ServiceFiles) -> Optional[str]:
    containers, error = compose.list_containers(
        ctx.plan.compose_command, files.name, ctx.timeout("compose_s")
    )
    if error:
        return error
    if not containers:
        return "no containers in compose project %s" % files.name
    problems = [p for p in (compose.container_problem(c) for c in containers) if p]
    return "; ".join(problems) or None


def _log_output(ctx: Context, output: str) -> None:
    for line in output.splitlines():
        if line.strip():
            ctx.log.say("  | " + line.rstrip())


STAGE_ACTIONS: Dict[str, Callable[[Context], str]] = {
    "prepare": prepare,
    "validate": validate,
    "deploy": deploy,
    "verify": verify,
}
