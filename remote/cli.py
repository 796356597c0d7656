"""The runner's command line: run (default), start, follow, status (docs/internals.md)."""

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

from remote.protocol import LOCK_FILE, REFUSED, Exit

# Each command imports what it needs when it runs: `status` and `follow` start on every
# host of a fleet run at once, and every module they skip is start-up time saved.
if TYPE_CHECKING:
    from remote.lock import RunLock
    from remote.plan import Plan

COMMANDS = ("run", "start", "follow", "status")


def default_root() -> str:
    """The runner lives in R/.fleet/, so R is two levels above it."""
    return os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))


def build_parser(command: str) -> argparse.ArgumentParser:
    prog = "fleet-runner" if command == "run" else "fleet-runner " + command
    parser = argparse.ArgumentParser(prog=prog, description=_DESCRIPTIONS[command])
    parser.add_argument("--root", help="the host root R (default: the folder above .fleet/)")
    if command in ("run", "start"):
        parser.add_argument(
            "--resume", action="store_true", help="skip completed stages and services"
        )
    if command == "run":
        parser.add_argument(
            "--plan", help="plan file, or - for stdin (default: R/.fleet/plan.json)"
        )
    if command == "start":
        parser.add_argument("--plan", required=True, help="plan file, or - for stdin")
    if command == "follow":
        parser.add_argument("--log", required=True, help="the run log to stream")
        parser.add_argument("--offset", type=int, default=0, help="first byte to send")
        parser.add_argument("--run-id", required=True, help="the run whose end to wait for")
    return parser


_DESCRIPTIONS = {
    "run": "Run the deployment stages on this host in the foreground.",
    "start": "Save the plan from stdin, start the run detached and stream its log.",
    "follow": "Stream a run's log from a byte offset until the run ends.",
    "status": "Print where this host stands as one JSON object.",
}


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in COMMANDS else "run"
    options = build_parser(command).parse_args(args)
    root = os.path.abspath(options.root or default_root())
    try:
        return _HANDLERS[command](options, root)
    except KeyboardInterrupt:
        return Exit.FAILED
    except OSError as exc:
        _complain("%s: %s" % (exc.filename or "error", exc.strerror or exc))
        return Exit.FAILED


def cmd_run(options: argparse.Namespace, root: str) -> int:
    from remote.plan import plan_path
    from remote.run import execute

    plan = _read_plan_or_none(options.plan or plan_path(root), root)
    if plan is None:
        return Exit.USAGE
    lock = _lock_or_none(root, plan)
    if lock is None:
        return Exit.LOCKED
    if options.plan and os.path.abspath(options.plan) != plan_path(root):
        # Saved so that a later `--resume` by hand continues this plan.
        _save_or_release(root, plan, lock)
    return execute(root, plan, options.resume, echo=sys.stdout.buffer, lock=lock)


def cmd_start(options: argparse.Namespace, root: str) -> int:
    from remote import detach

    plan = _read_plan_or_none(options.plan, root)
    if plan is None:
        return Exit.USAGE
    lock = _lock_or_none(root, plan)
    if lock is None:
        return Exit.LOCKED
    _save_or_release(root, plan, lock)
    started = detach.spawn_run(root, plan, options.resume, lock)
    if started.error is not None:
        _complain("the detached run did not start: %s" % started.error)
        return Exit.FAILED
    assert started.log is not None
    return _stream(started.log, 0, plan.run_id, root, started.bell)


def cmd_follow(options: argparse.Namespace, root: str) -> int:
    return _stream(options.log, options.offset, options.run_id, root)


def cmd_status(options: argparse.Namespace, root: str) -> int:
    from remote.status import host_status

    sys.stdout.write(json.dumps(host_status(root)) + "\n")
    sys.stdout.flush()
    return Exit.OK


_HANDLERS: Dict[str, Callable[[argparse.Namespace, str], int]] = {
    "run": cmd_run,
    "start": cmd_start,
    "follow": cmd_follow,
    "status": cmd_status,
}


def _stream(log: str, offset: int, run_id: str, root: str, bell: Optional[int] = None) -> int:
    from remote.follow import ReaderGone, follow, silence_stdout
    from remote.lock import holder_running

    lock_path = os.path.join(root, LOCK_FILE)

    def run_is_alive() -> bool:
        return holder_running(lock_path, run_id) is not None

    try:
        return follow(log, offset, run_id, sys.stdout.buffer, run_is_alive, bell=bell)
    except (ReaderGone, KeyboardInterrupt):
        # The controller went away; the run goes on without us.
        silence_stdout()
        return Exit.OK


def _read_plan_or_none(source: str, root: str) -> "Optional[Plan]":
    from remote.plan import PlanError, load_plan, parse_plan

    try:
        if source == "-":
            return parse_plan(sys.stdin.read(), root)
        return load_plan(source, root)
    except PlanError as exc:
        _complain(str(exc))
        return None


def _lock_or_none(root: str, plan: "Plan") -> "Optional[RunLock]":
    from remote.events import iso_ts, make_event, struct_line, utc_now
    from remote.lock import LockHeld, describe_holder
    from remote.run import holder_info, new_lock

    lock = new_lock(root)
    try:
        lock.acquire(holder_info(plan))
    except LockHeld as exc:
        message = "this host is busy: %s holds its lock" % describe_holder(exc.holder)
        refused = make_event(
            iso_ts(utc_now()), plan.host, plan.run_id, "run_failed", status=REFUSED, message=message
        )
        sys.stdout.write(struct_line(refused) + "\n")
        sys.stdout.flush()
        _complain(message)
        return None
    return lock


def _save_or_release(root: str, plan: "Plan", lock: "RunLock") -> None:
    from remote.plan import save_plan

    try:
        save_plan(root, plan)
    except BaseException:
        lock.release()
        raise


def _complain(message: str) -> None:
    sys.stderr.write("fleet-runner: %s\n" % message)
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
