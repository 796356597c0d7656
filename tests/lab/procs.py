"""Processes of the lab, found through /proc by pid and parent pid, never by name."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path

LOCK_FILE = Path("state") / "deploy" / "lock"  # under a host's root R


def children(pid: int) -> list[int]:
    """The pids whose parent is pid."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """True while pid names a process that is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def kill_tree(pid: int) -> None:
    """SIGKILL pid and every process below it, as a power cut would.

    A run spawns each command (compose, healthchecks) in a session and process group of
    its own, so killpg of the run's group misses them; they are still its children by
    parent pid. Each process is stopped before its children are listed, so none can start
    a new one unseen; then all of them are killed.
    """
    stopped: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            os.kill(current, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        stopped.append(current)
        pending.extend(children(current))
    for current in stopped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(current, signal.SIGKILL)


def running_run(root: Path) -> int | None:
    """The pid of the fleet run holding the deploy lock under root R, if it still runs.

    A lock left by a run that is gone may name a pid reused since: only a live process
    whose command line is the runner's counts.
    """
    try:
        pid = json.loads((root / LOCK_FILE).read_text())["pid"]
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(pid) if b"fleet-runner" in cmdline and alive(int(pid)) else None


def stop_run(root: Path) -> None:
    """Kill the run still going under root R, with everything it started, if there is one."""
    pid = running_run(root)
    if pid is not None:
        kill_tree(pid)
