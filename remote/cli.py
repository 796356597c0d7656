"""The runner's command line: run (default), start, follow, status, logs (docs/internals.md)."""

from __future__ import annotations

import os
import sys

from remote.protocol import LOCK_FILE, REFUSED, ROLLBACK_SUFFIX, Exit

# Each command imports what it needs when it runs, and the command line is parsed by
# hand (argparse alone costs more than a run's state writes): the runner starts on every
# host of a fleet at once, so every module it skips is start-up time saved.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional

    from remote.run.job import Job
    from remote.run.lock import RunLock

COMMANDS = (
    "run",
    "start",
    "follow",
    "status",
    "source-need",
    "source-receive",
    "logs",
    "preview",
    "outdated",
)

USAGE = {
    "run": "fleet-runner [run] [--root R] [--resume] [--plan FILE|-]",
    "start": "fleet-runner start [--root R] [--resume] --plan FILE|-",
    "follow": "fleet-runner follow [--root R] --log PATH [--offset N] --run-id ID",
    "status": "fleet-runner status [--root R]",
    "source-need": "fleet-runner source-need [--root R] [--repo PATH] < MANIFEST",
    "source-receive": "fleet-runner source-receive [--root R] [--repo PATH] < STREAM",
    "logs": "fleet-runner logs [--root R] --service SVC [--repo P] [--compose JSON] "
    "[--tail N] [--since X] [--follow]",
    "preview": "fleet-runner preview [--root R] --plan FILE|-",
    "outdated": "fleet-runner outdated [--root R] --plan FILE|-",
}
_DESCRIPTIONS = {
    "run": "Run the deployment stages on this host in the foreground.",
    "start": "Save the plan, start the run detached from this session and stream its log.",
    "follow": "Stream a run's log from a byte offset until the run ends.",
    "status": "Print where this host stands as one JSON object.",
    "source-need": "Print which objects of a pushed manifest this host lacks.",
    "source-receive": "Store pushed objects, build the revision and switch the repo to it.",
    "logs": "Stream compose's logs of one service, its .env values masked.",
    "preview": "Print what a deploy of the plan would change, changing nothing (JSON).",
    "outdated": "Print which images the registry has newer versions of, pulling nothing (JSON).",
}
_HELP = """
options:
  --root R      the host root (default: the folder above .fleet/)
  --resume      skip completed stages and services
  --plan FILE   plan file, or - for stdin (run: default R/.fleet/plan.json)
  --log PATH    the run log to stream
  --offset N    first byte to send (default 0)
  --run-id ID   the run whose end to wait for
  --repo PATH   the repo link of a push host (default: R/repo)
  --service SVC, --repo P, --compose JSON, --tail N, --since X, --follow   (logs)
"""
# The options each command takes: flag -> whether a value follows it.
_FLAGS = {
    "run": {"--root": True, "--resume": False, "--plan": True},
    "start": {"--root": True, "--resume": False, "--plan": True},
    "follow": {"--root": True, "--log": True, "--offset": True, "--run-id": True},
    "status": {"--root": True},
    "source-need": {"--root": True, "--repo": True},
    "source-receive": {"--root": True, "--repo": True},
    "logs": {
        "--root": True,
        "--service": True,
        "--repo": True,
        "--compose": True,
        "--tail": True,
        "--since": True,
        "--follow": False,
        "--become": True,
    },
    "preview": {"--root": True, "--plan": True},
    "outdated": {"--root": True, "--plan": True},
}
_REQUIRED = {
    "start": ("--plan",),
    "follow": ("--log", "--run-id"),
    "logs": ("--service",),
    "preview": ("--plan",),
    "outdated": ("--plan",),
}


class UsageError(Exception):
    """The command line is not one the runner understands."""


class Options(object):
    """The parsed command line: each flag as an attribute (--run-id is run_id)."""

    def __init__(self, values: Dict[str, Optional[str]]) -> None:
        self.root = values.get("--root")
        self.resume = "--resume" in values
        self.plan = values.get("--plan") or ""
        self.log = values.get("--log") or ""
        self.run_id = values.get("--run-id") or ""
        self.repo = values.get("--repo") or ""
        offset = values.get("--offset") or "0"
        if not (offset.isascii() and offset.isdigit()):
            raise UsageError("--offset: %r is not a byte offset" % offset)
        self.offset = int(offset)
        self.command = ""
        self.values = values  # the flags of `logs`, read by cmd_logs


def parse_args(command: str, args: List[str]) -> Options:
    flags = _FLAGS[command]
    values: Dict[str, Optional[str]] = {}
    rest = list(args)
    while rest:
        flag, has_value, value = rest.pop(0).partition("=")
        if flag not in flags:
            raise UsageError("unrecognized argument: %s" % flag)
        if flags[flag] and not has_value:
            if not rest:
                raise UsageError("%s needs a value" % flag)
            value = rest.pop(0)
        elif has_value and not flags[flag]:
            raise UsageError("%s takes no value" % flag)
        values[flag] = value if flags[flag] else None
    missing = [flag for flag in _REQUIRED.get(command, ()) if flag not in values]
    if missing:
        raise UsageError("required: %s" % ", ".join(missing))
    options = Options(values)
    options.command = command
    return options


def default_root() -> str:
    """The runner lives in R/.fleet/, so R is two levels above it (above the archive;
    `__main__.py` in the archive's unpacked copy stands for the archive)."""
    runner = os.path.abspath(sys.argv[0])
    if os.path.basename(runner) == "__main__.py":
        runner = os.path.dirname(runner)
    return os.path.dirname(os.path.dirname(runner))


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "run"
    if "-h" in args or "--help" in args:
        sys.stdout.write("usage: %s\n\n%s\n%s" % (USAGE[command], _DESCRIPTIONS[command], _HELP))
        return Exit.OK
    try:
        options = parse_args(command, args)
    except UsageError as exc:
        sys.stderr.write("usage: %s\nfleet-runner: error: %s\n" % (USAGE[command], exc))
        return Exit.USAGE
    root = os.path.abspath(options.root or default_root())
    try:
        return _HANDLERS[command](options, root)
    except KeyboardInterrupt:
        return Exit.FAILED
    except OSError as exc:
        _complain("%s: %s" % (exc.filename or "error", exc.strerror or exc))
        return Exit.FAILED


def cmd_run(options: Options, root: str) -> int:
    from remote.run.driver import execute
    from remote.run.job import job_path

    job = _read_job_or_none(options.plan or job_path(root), root)
    if job is None:
        return Exit.USAGE
    lock = _lock_or_none(root, job)
    if lock is None:
        return Exit.LOCKED
    if options.plan and os.path.abspath(options.plan) != job_path(root):
        # Saved so that a later `--resume` by hand continues this plan.
        _save_or_release(root, job, lock)
    return execute(root, job, options.resume, echo=sys.stdout.buffer, lock=lock)


def cmd_start(options: Options, root: str) -> int:
    from remote.run.detach import start_detached
    from remote.run.driver import execute

    job = _read_job_or_none(options.plan, root)
    if job is None:
        return Exit.USAGE
    # The lock is taken here, before the fork, so that a refusal changes nothing.
    lock = _lock_or_none(root, job)
    if lock is None:
        return Exit.LOCKED
    _save_or_release(root, job, lock)
    return start_detached(lock, lambda echo: execute(root, job, options.resume, echo, lock))


def cmd_follow(options: Options, root: str) -> int:
    from remote.run.follow import ReaderGone, follow, silence_stdout
    from remote.run.lock import holder_running

    lock_path = os.path.join(root, LOCK_FILE)

    def run_is_alive() -> bool:
        # The run, or the rollback that the same process went on with after it failed.
        holder = holder_running(lock_path) or {}
        return holder.get("run_id") in (options.run_id, options.run_id + ROLLBACK_SUFFIX)

    try:
        return follow(options.log, options.offset, options.run_id, sys.stdout.buffer, run_is_alive)
    except (ReaderGone, KeyboardInterrupt):
        # The controller went away; the run goes on without us.
        silence_stdout()
        return Exit.OK


def cmd_status(options: Options, root: str) -> int:
    from remote.kit.jsonio import dumps
    from remote.status import host_status

    sys.stdout.write(dumps(host_status(root)) + "\n")
    sys.stdout.flush()
    return Exit.OK


def cmd_source(options: Options, root: str) -> int:
    """source-need / source-receive (remote/source.py); the answer is one marked line."""
    from remote import source

    repo = os.path.abspath(options.repo or os.path.join(root, "repo"))
    try:
        if options.command == "source-need":
            answer = source.need(root, repo, sys.stdin.buffer.read())
        else:
            answer = source.receive(root, repo, sys.stdin.buffer)
    except source.SourceError as exc:
        _complain(str(exc))
        return Exit.FAILED
    sys.stdout.write(source.answer_line(answer))
    sys.stdout.flush()
    return Exit.OK


def cmd_preview(options: Options, root: str) -> int:
    """preview / outdated. Read-only: no lock taken, nothing under R/state, R/logs or
    R/.fleet written."""
    from remote.kit.jsonio import dumps

    job = _read_job_or_none(options.plan, root)
    if job is None:
        return Exit.USAGE
    if options.command == "outdated":
        from remote.outdated import outdated as read
    else:
        from remote.preview import preview as read
    sys.stdout.write(dumps(read(root, job)) + "\n")
    sys.stdout.flush()
    return Exit.OK


def cmd_logs(options: Options, root: str) -> int:
    from remote.kit import dockercmd
    from remote.logs import logs_argv, parse_compose, stream_logs

    values = options.values
    service = values.get("--service") or ""
    if "/" in service or service.startswith("."):
        _complain("--service: %r is not a service name" % service)
        return Exit.USAGE
    try:
        compose = parse_compose(values.get("--compose") or "")
    except ValueError as exc:
        _complain(str(exc))
        return Exit.USAGE
    repo = values.get("--repo") or os.path.join(root, "repo")
    argv = logs_argv(
        compose, root, repo, service, values.get("--tail"), values.get("--since"),
        "--follow" in values,
    )  # fmt: skip
    dockercmd.configure(compose, values.get("--become"))
    return stream_logs(dockercmd.argv_for(argv), root, service, sys.stdout.buffer)


_HANDLERS: Dict[str, Callable[[Options, str], int]] = {
    "run": cmd_run,
    "start": cmd_start,
    "follow": cmd_follow,
    "status": cmd_status,
    "source-need": cmd_source,
    "source-receive": cmd_source,
    "logs": cmd_logs,
    "preview": cmd_preview,
    "outdated": cmd_preview,
}


def _read_job_or_none(source: str, root: str) -> Optional[Job]:
    """The job of a command that runs docker (run, start, preview, outdated): how docker
    is found and whether it goes through sudo follow from it (remote/kit/dockercmd.py)."""
    from remote.kit import dockercmd
    from remote.run.job import JobError, load_job, parse_job

    try:
        job = parse_job(sys.stdin.read(), root) if source == "-" else load_job(source, root)
    except JobError as exc:
        _complain(str(exc))
        return None
    dockercmd.configure(job.compose_command, job.become)
    return job


def _lock_or_none(root: str, job: Job) -> Optional[RunLock]:
    from remote.run.driver import holder_info, new_lock
    from remote.run.lock import LockHeld, describe_holder
    from remote.run.runlog import iso_ts, make_event, struct_line, utc_now

    lock = new_lock(root)
    try:
        lock.acquire(holder_info(job))
    except LockHeld as exc:
        message = "this host is busy: %s holds its lock" % describe_holder(exc.holder)
        refused = make_event(
            iso_ts(utc_now()), job.host, job.run_id, "run_failed", status=REFUSED, message=message
        )
        sys.stdout.write(struct_line(refused) + "\n")
        sys.stdout.flush()
        _complain(message)
        return None
    return lock


def _save_or_release(root: str, job: Job, lock: RunLock) -> None:
    from remote.run.job import save_job

    try:
        save_job(root, job)
    except BaseException:
        lock.release()
        raise


def _complain(message: str) -> None:
    sys.stderr.write("fleet-runner: %s\n" % message)
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
