"""Starting a run that outlives the SSH session that asked for it."""

from __future__ import annotations

import os
import sys

from remote.kit.procs import exit_code
from remote.protocol import Exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

    from remote.run.lock import RunLock

STDOUT, STDERR = 1, 2

# An echo that cannot be delivered is held back this far, then given up: the controller
# reads the rest from the log file by offset (follow) once the channel has closed.
BACKLOG_LIMIT = 1 << 20


class Echo(object):
    """The detached run's stdout (the SSH channel). Lines wait in a backlog until flush
    (RunLog flushes at every event that may precede a wait). It never blocks the run: what
    a full pipe does not take stays in the backlog for the next flush or `finish`. Once
    the reader is gone (EPIPE) or the backlog overflows, it stays silent; everything sent
    is an unbroken prefix of the log, so the controller's byte offset stays true."""

    def __init__(self, fd: int) -> None:
        self._fd: Optional[int] = fd
        self._backlog = b""
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> int:
        if self._fd is not None:
            self._backlog += data
            if len(self._backlog) > BACKLOG_LIMIT:
                self._give_up()
        return len(data)

    def flush(self) -> None:
        self._push()

    def finish(self) -> None:
        """After the run: wait for the reader to take the backlog (the run's lock is
        released by now, so a stalled link holds up nothing but this process)."""
        if self._fd is not None and self._backlog:
            os.set_blocking(self._fd, True)
            self._push()

    def _push(self) -> None:
        while self._backlog and self._fd is not None:
            try:
                sent = os.write(self._fd, self._backlog)
            except BlockingIOError:
                return
            except OSError:
                self._give_up()
                return
            self._backlog = self._backlog[sent:]

    def _give_up(self) -> None:
        self._fd = None
        self._backlog = b""


def start_detached(lock: RunLock, run: Callable[[Echo], int]) -> int:
    """Fork; the child leaves the SSH session (setsid: the session's hang-up or signals
    never reach it), keeps the held lock and calls run with stdout as its Echo. The
    parent drops its copy of the lock without unlocking and returns the child's exit
    code once it exits, so that the channel's exit status is the run's."""
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child != 0:
        lock.forget()
        return _exit_code(os.waitpid(child, 0)[1])
    code = Exit.FAILED
    echo = None
    try:
        os.setsid()
        _stdin_to_devnull()
        os.chdir("/")
        echo = Echo(STDOUT)
        code = run(echo)
    except BaseException as exc:  # one line, the last on stderr: what the controller shows
        _say("fleet-runner: the run stopped: %s: %s\n" % (type(exc).__name__, exc))
    finally:
        if echo is not None:
            echo.finish()
        os._exit(code)  # never back into the caller: it is the parent's, not ours


def _say(text: str) -> None:
    try:
        os.write(STDERR, text.encode("utf-8", "replace"))
    except OSError:
        pass


def _stdin_to_devnull() -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def _exit_code(status: int) -> int:
    code = exit_code(status)
    return Exit.VANISHED if code < 0 else code  # killed before it could end its log
