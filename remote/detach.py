"""Starting a run that outlives the SSH session that asked for it."""

import contextlib
import os
import sys
from typing import NamedTuple, Optional

from remote.lock import RunLock
from remote.plan import Plan
from remote.protocol import Exit
from remote.run import execute, holder_info


class Started(NamedTuple):
    log: Optional[str]  # the new run's log, once it has opened it
    error: Optional[str]  # why it did not get that far
    bell: Optional[int] = None  # read end of the run's Doorbell


class Doorbell(object):
    """The detached run's stand-in for stdout: one byte per log line wakes the parent's
    follow at once instead of at its next poll. It never blocks the run: a full pipe
    means a wake-up is pending anyway, and a parent gone (EPIPE) makes the run's log
    drop it."""

    def __init__(self, write_fd: int) -> None:
        self._fd = write_fd
        os.set_blocking(write_fd, False)

    def write(self, data: bytes) -> int:
        with contextlib.suppress(BlockingIOError):
            os.write(self._fd, b"\n")
        return len(data)

    def flush(self) -> None:
        pass


class Handshake(object):
    """The detached run's one message to the parent, over a pipe: `log PATH` once its
    log exists (so the parent can follow it), or `error WHY`."""

    def __init__(self, write_fd: int) -> None:
        self._fd: Optional[int] = write_fd

    def send(self, kind: str, text: str) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.write(fd, ("%s %s\n" % (kind, text)).encode("utf-8", "replace"))
        except OSError:
            pass  # the parent is gone (its SSH session dropped): the run goes on regardless
        finally:
            os.close(fd)

    def log_opened(self, path: str) -> None:
        self.send("log", path)


def spawn_run(root: str, plan: Plan, resume: bool, lock: RunLock) -> Started:
    """Double-fork a session leader-less grandchild that runs the stages with stdio on
    /dev/null, so a hang-up or a closed pipe never reaches it. It inherits the held
    lock; this process drops its copy without unlocking."""
    read_fd, write_fd = os.pipe()
    bell_read, bell_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(read_fd)
        os.close(bell_read)
        _child(root, plan, resume, lock, write_fd, bell_write)
    os.close(write_fd)
    os.close(bell_write)
    os.waitpid(child, 0)
    lock.forget()
    started = _read_handshake(read_fd)
    if started.log is None:
        os.close(bell_read)
        return started
    return started._replace(bell=bell_read)


def _child(root: str, plan: Plan, resume: bool, lock: RunLock, write_fd: int, bell_fd: int) -> None:
    code = Exit.FAILED
    try:
        os.setsid()
        if os.fork() != 0:
            os._exit(0)  # the grandchild is no session leader: it can never get a terminal
        _stdio_to_devnull()
        os.chdir("/")
        handshake = Handshake(write_fd)
        try:
            lock.describe(holder_info(plan))  # now naming this process
            code = execute(
                root,
                plan,
                resume,
                echo=Doorbell(bell_fd),  # type: ignore[arg-type]  # file-like enough
                lock=lock,
                on_log_open=handshake.log_opened,
            )
        except BaseException:
            import traceback  # only on this path: its import costs ~40 ms at every start

            handshake.send("error", traceback.format_exc().strip().splitlines()[-1])
    finally:
        os._exit(code)


def _stdio_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _read_handshake(read_fd: int) -> Started:
    chunks = []
    while True:
        chunk = os.read(read_fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    message = b"".join(chunks).decode("utf-8", "replace").strip()
    kind, _, text = message.partition(" ")
    if kind == "log" and text:
        return Started(text, None)
    return Started(None, text or "it exited before opening its log")
