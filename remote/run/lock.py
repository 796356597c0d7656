"""One run per host: an flock on R/state/deploy/lock, with the holder described inside."""

from __future__ import annotations

import errno
import fcntl
import os

from remote.kit.atomic import ensure_dir
from remote.kit.jsonio import dumps, read_object

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


class LockHeld(Exception):
    """Another live run holds the host's lock."""

    def __init__(self, holder: Dict[str, Any]) -> None:
        super(LockHeld, self).__init__(describe_holder(holder))
        self.holder = holder


def describe_holder(holder: Optional[Dict[str, Any]]) -> str:
    if not holder:
        return "an unknown run"
    return "run %s (pid %s, started %s)" % (
        holder.get("run_id", "?"),
        holder.get("pid", "?"),
        holder.get("started", "?"),
    )


def read_holder(path: str) -> Optional[Dict[str, Any]]:
    """The holder info in the lock file; None when empty (released) or unreadable."""
    return read_object(path)


def pid_alive(pid: Any) -> bool:
    """True when pid names a live, non-zombie process."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # A killed run whose parent has not reaped it still answers kill(pid, 0).
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith(("Z", "X"))


def holder_running(path: str, run_id: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The holder of the lock when its process is alive (and, if given, runs run_id)."""
    holder = read_holder(path)
    if holder is None or not pid_alive(holder.get("pid")):
        return None
    if run_id is not None and holder.get("run_id") != run_id:
        return None
    return holder


class RunLock(object):
    """The flock is the truth (the kernel drops it when the holder dies); the JSON inside
    only says who holds it. The file is rewritten in place, never replaced: a rename
    would give a new inode that nobody has locked."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: Optional[int] = None
        self.stale_holder: Optional[Dict[str, Any]] = None
        self.holder: Dict[str, Any] = {}

    def acquire(self, holder: Dict[str, Any]) -> None:
        """Take the lock or raise LockHeld. A holder left behind by a dead process is
        remembered in `stale_holder` so that the run can say it took over."""
        directory = os.path.dirname(self.path)
        ensure_dir(directory)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise LockHeld(read_holder(self.path) or {}) from None
        self._fd = fd
        self.stale_holder = read_holder(self.path)
        self.describe(holder)

    def describe(self, holder: Dict[str, Any]) -> None:
        """(Re)write the holder info, e.g. when a detached child takes over the lock."""
        self.holder = dict(holder)
        self._write(dumps(holder).encode("utf-8") + b"\n")

    def release(self) -> None:
        if self._fd is None:
            return
        self._write(b"")  # an empty lock file: nobody holds it
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def forget(self) -> None:
        """Close this process's descriptor without unlocking: after fork, the child's
        copy keeps holding the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, data: bytes) -> None:
        # No fsync: after a crash the flock is gone whatever the text says, and a
        # holder that is not running is taken over as stale.
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
