"""The stages that change or check the host: prepare, validate, deploy, verify.

(diagnose and complete close a run; run/driver.py drives them.) Each stage returns
a one-line message for its stage_completed event or raises StageFailed.
"""

from __future__ import annotations

import os
import time

from remote.docker import access, compose, converge, engine_api, envlink
from remote.kit import dockercmd, procs
from remote.kit.words import plural
from remote.protocol import no_checkout
from remote.run import pulls
from remote.run.context import COMPLETED, FAILED, SKIPPED, Context
from remote.run.revisions import current_revision

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

# verify polls soon (a healthcheck often passes within a second of `up`), then less often.
FIRST_POLL_S = 0.2
MAX_POLL_S = 2.0
# A poll that only asks the engine's socket costs ~1 ms: it may stay frequent.
ENGINE_POLL_S = 0.3


class StageFailed(Exception):
    """A stage could not finish; message names the service and the cause."""

    def __init__(self, message: str, service: Optional[str] = None) -> None:
        super(StageFailed, self).__init__(message)
        self.message = message
        self.service = service


def _check_sudo(path: str) -> None:
    """become: sudo: may sudo run docker without a password? (`sudo -n -l` runs nothing)"""
    result = procs.run([*dockercmd.SUDO, "-l", path], 20)
    if not result.ok:
        why = procs.brief(result.stderr, 1) or result.reason()
        raise StageFailed(dockercmd.sudo_refused(path, why))


def prepare(ctx: Context) -> str:
    try:
        found = dockercmd.prepare_note(ctx.job.compose_command[0])
    except dockercmd.DockerMissing as exc:
        raise StageFailed(str(exc)) from None
    if ctx.job.become == "sudo":
        _check_sudo(dockercmd.locate(ctx.job.compose_command[0]) or "docker")
    no_docker = None if ctx.job.become else access.docker_problem(ctx.job.compose_command)
    if no_docker:
        raise StageFailed(no_docker)
    if found:
        ctx.log.say("prepare: " + found)
    if ctx.rollback:  # no git pull, no image pulls: a rollback needs no network
        from remote.run import releases

        try:
            return releases.prepare(ctx)
        except releases.RollbackError as exc:
            raise StageFailed("rollback: %s" % exc) from None
    return "%s; %s" % (_git_pull(ctx), pulls.prepare(ctx))


def _git_pull(ctx: Context) -> str:
    repo = ctx.job.repo
    if ctx.job.source == "push":
        return _pushed_revision(ctx)
    if not os.path.exists(os.path.join(repo, ".git")):
        if not os.path.isdir(os.path.join(repo, "services")):
            raise StageFailed(no_checkout(repo))  # validate would only say "no compose.yaml"
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


def _pushed_revision(ctx: Context) -> str:
    """A push host runs no git: it deploys the revision the controller last switched
    R/repo to (remote/source.py), and says which."""
    rev = current_revision(ctx.root, ctx.job.repo)
    if rev is None:
        ctx.log.event(
            "warning",
            stage="prepare",
            message="source push: %s is not a pushed revision" % ctx.job.repo,
        )
        return "source push: no pushed revision at %s" % ctx.job.repo
    return "source push: deploying revision %s" % rev


def validate(ctx: Context) -> str:
    problems: List[Tuple[str, str]] = []
    for name in ctx.job.services:
        problem = _validation_problem(ctx, ctx.files(name)) or pulls.validate_problem(ctx, name)
        if problem:
            _service_failed(ctx, "validate", name, problem)
            problems.append((name, problem))
    _fail_if_any(problems)
    return "%s valid" % plural(len(ctx.job.services), "service")


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
        more = " (and %s)" % plural(len(problems) - 1, "more service") if len(problems) > 1 else ""
        raise StageFailed(first_problem + more, first_service)


def _validation_problem(ctx: Context, files: compose.ServiceFiles) -> Optional[str]:
    if files.definition is None:
        return "service %s has no %s in %s" % (
            files.name,
            " or ".join(compose.DEFINITION_NAMES),
            files.service_dir,
        )
    link_problem = _link_env(ctx, files)
    result = ctx.config(files).result
    if result.ok:
        return None
    accepted = compose.accepted_project_name(files.name)
    hint = " (compose would accept the name %s)" % accepted if accepted else ""
    config_env = os.path.join(ctx.root, "config", files.name, compose.ENV_NAME)
    missing = envlink.missing_hint(files.service_dir, config_env, result.stderr)
    return "service %s: compose config failed: %s%s%s%s" % (
        files.name,
        result.reason(),
        hint,
        link_problem,
        missing,
    )


def _link_env(ctx: Context, files: compose.ServiceFiles) -> str:
    """R/config/<svc>/.env as .env beside the definition (docker/envlink.py): "" or why not."""
    try:
        outcome = envlink.link_env(files.service_dir, files.env_file)
    except OSError as exc:
        why = "cannot link %s as .env in %s: %s" % (files.env_file, files.service_dir, exc)
        ctx.log.event("warning", stage="validate", service=files.name, message=why)
        return " (%s)" % why
    if outcome == envlink.REPO_OWN and files.env_file:
        message = "%s has a .env of its own: env_file: .env gets that one, not %s" % (
            files.service_dir,
            files.env_file,
        )
        ctx.log.event("warning", stage="validate", service=files.name, message=message)
    return ""


def deploy(ctx: Context) -> str:
    skip_through = _resume_point(ctx)
    for index, name in enumerate(ctx.job.services):
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
    if last not in ctx.job.services:
        ctx.log.say("last_service %s is not in this plan: deploying every service" % last)
        return -1
    return ctx.job.services.index(last)


def _deploy_service(ctx: Context, files: compose.ServiceFiles) -> None:
    ctx.current_service = files.name
    ctx.log.event("service_started", stage="deploy", service=files.name)
    fingerprint = ctx.config(files).fingerprint
    command = ctx.job.compose_command
    if converge.is_current(ctx.root, files.name, fingerprint, command):
        _service_done(ctx, files.name, 0, "unchanged: its containers already run this config")
        return
    converge.forget(ctx.root, files.name)
    result = pulls.up(ctx, files)
    _log_output(ctx, result.stdout + result.stderr)
    if not result.ok:
        message = "service %s: compose up failed: %s" % (files.name, result.reason())
        _service_failed(ctx, "deploy", files.name, message, result.duration_ms)
        raise StageFailed(message, files.name)
    converge.remember(ctx.root, files.name, fingerprint, command)
    _service_done(ctx, files.name, result.duration_ms, None)


def _service_done(ctx: Context, name: str, duration_ms: int, message: Optional[str]) -> None:
    ctx.state.set_last_service(name)
    ctx.services[name] = COMPLETED
    ctx.log.event(
        "service_completed",
        stage="deploy",
        service=name,
        status=COMPLETED,
        duration_ms=duration_ms,
        message=message,
    )
    ctx.current_service = None


def verify(ctx: Context) -> str:
    """Every service polled in one loop with one deadline: their health waits overlap.

    Only failures are service events here: service_completed/skipped belong to deploy,
    where they say what this run did to each service."""
    started = time.monotonic()
    deadline = started + ctx.timeout("verify_s")
    pending = list(ctx.job.services)
    problems: Dict[str, str] = {}
    delay = FIRST_POLL_S
    engine_serves = engine_api.serves(ctx.job.compose_command)
    while True:
        # One engine listing serves every service of this poll (None: ask compose).
        listing = engine_api.compose_containers() if engine_serves else None
        for name in list(pending):
            ctx.current_service = name
            problem = _service_problem(ctx, ctx.files(name), listing)
            if problem is None:
                pending.remove(name)
                ctx.log.say("%s: healthy" % name)
            else:
                problems[name] = problem
        remaining = deadline - time.monotonic()
        if not pending or remaining <= 0:
            break
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, MAX_POLL_S if listing is None else ENGINE_POLL_S)
    ctx.current_service = None
    failures = [(name, _unhealthy(ctx, name, problems[name])) for name in pending]
    for name, problem in failures:
        _service_failed(ctx, "verify", name, problem, int((time.monotonic() - started) * 1000))
    _fail_if_any(failures)
    return "%s healthy" % plural(len(ctx.job.services), "service")


def _unhealthy(ctx: Context, name: str, problem: str) -> str:
    return "service %s is not healthy after %ss: %s" % (name, ctx.timeout("verify_s"), problem)


def _service_problem(
    ctx: Context,
    files: compose.ServiceFiles,
    listing: Optional[Dict[str, List[Dict[str, Any]]]],
) -> Optional[str]:
    if files.healthcheck:
        return _healthcheck_problem(ctx, files)
    return _containers_problem(ctx, files, listing)


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


def _containers_problem(
    ctx: Context,
    files: compose.ServiceFiles,
    listing: Optional[Dict[str, List[Dict[str, Any]]]],
) -> Optional[str]:
    if listing is not None:
        containers = listing.get(files.name, [])
    else:
        containers, error = compose.list_containers(
            ctx.job.compose_command, files.name, ctx.timeout("compose_s")
        )
        if error:
            return error
    if not containers:
        return "no containers in compose project %s" % files.name
    ctx.containers[files.name] = containers
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
