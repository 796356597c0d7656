"""Running a command as argv (never a shell string), with a timeout that really stops it.

os.posix_spawn, not subprocess: importing subprocess (threading, selectors, ...) costs
every run more than all of its spawns together, and the runner starts on every host of a
fleet at once.
"""

from __future__ import annotations

import os
import select
import time

from remote.kit import dockercmd, signals

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

NOT_FOUND = 127
CHUNK = 65536
# After a timeout's SIGKILL: how long to wait for the last output of the killed group.
DRAIN_S = 1.0


class Result(object):
    """What a command did: exit code (negative: killed by that signal) and output."""

    def __init__(
        self,
        returncode: int,
        stdout: str,
        stderr: str,
        timed_out: bool,
        duration_ms: int,
        timeout: float = 0,
    ) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.duration_ms = duration_ms
        self.timeout = timeout

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def reason(self) -> str:
        """Why it failed, on one line: the timeout, else its error lines, else its code."""
        if self.timed_out:
            return "timed out after %ss" % self.timeout
        return brief(self.stderr) or "exit status %d" % self.returncode


def run(argv: List[str], timeout: float, cwd: Optional[str] = None) -> Result:
    """Run argv to completion or timeout. The child gets its own session so that a
    timeout (or our own interruption) kills its whole process group, and so that no
    tool (git over ssh) can prompt on a terminal."""
    started = time.monotonic()
    deadline = started + timeout
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        pid = _spawn(argv, cwd, out_write, err_write)
    except OSError as exc:
        for fd in (out_read, err_read):
            os.close(fd)
        return Result(NOT_FOUND, "", "cannot run %s: %s" % (argv[0], exc.strerror), False, 0)
    finally:
        os.close(out_write)
        os.close(err_write)
    output: Dict[int, List[bytes]] = {out_read: [], err_read: []}
    status: Optional[int] = None
    try:
        if _collect(output, deadline):
            status = _wait(pid, deadline)
        if status is None:  # timed out
            _kill_group(pid)
            _collect(output, time.monotonic() + DRAIN_S)
            status = os.waitpid(pid, 0)[1]
            timed_out = True
        else:
            timed_out = False
    except BaseException:
        if status is None:
            _kill_group(pid)
            os.waitpid(pid, 0)
        raise
    finally:
        for fd in output:
            os.close(fd)
    elapsed = int((time.monotonic() - started) * 1000)
    stdout, stderr = (b"".join(output[fd]).decode("utf-8", "replace") for fd in output)
    return Result(exit_code(status), stdout, stderr, timed_out, elapsed, timeout)


def _spawn(argv: List[str], cwd: Optional[str], stdout: int, stderr: int) -> int:
    argv = dockercmd.argv_for(argv)  # docker off PATH, or through sudo (become)
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, stdout, 1),
        (os.POSIX_SPAWN_DUP2, stderr, 2),
    ]
    # Python ignores SIGPIPE (and SIGXFSZ); the child gets the defaults, as with subprocess.
    defaults = (signals.SIGPIPE, signals.SIGXFSZ)
    if cwd is None:
        return os.posix_spawnp(
            argv[0], argv, env, file_actions=actions, setsid=True, setsigdef=defaults
        )
    # posix_spawn has no chdir: the runner is single-threaded, so it briefly moves itself.
    back = os.open(".", os.O_RDONLY)
    try:
        os.chdir(cwd)
        return os.posix_spawnp(
            argv[0], argv, env, file_actions=actions, setsid=True, setsigdef=defaults
        )
    finally:
        os.fchdir(back)
        os.close(back)


def _collect(output: Dict[int, List[bytes]], deadline: float) -> bool:
    """Read the pipes in output until both reach EOF (True) or the deadline (False)."""
    poller = select.poll()
    open_fds = set(output)
    for fd in open_fds:
        poller.register(fd, select.POLLIN)
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        for fd, _ in poller.poll(remaining * 1000):
            data = os.read(fd, CHUNK)
            if data:
                output[fd].append(data)
            else:
                poller.unregister(fd)
                open_fds.discard(fd)
    return True


def _wait(pid: int, deadline: float) -> Optional[int]:
    """pid's exit status once it exits (it has closed its output), None at the deadline."""
    reaped, status = os.waitpid(pid, os.WNOHANG)
    if reaped == pid:
        return status
    if hasattr(os, "pidfd_open"):  # Linux 5.3+, Python 3.9+: woken by the exit itself
        try:
            return _wait_pidfd(pid, deadline)
        except OSError:
            pass
    pause = 0.0002  # a child that has closed its output is usually gone within 1 ms
    while True:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _wait_pidfd(pid: int, deadline: float) -> Optional[int]:
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            return None
    finally:
        os.close(pidfd)
    reaped, status = os.waitpid(pid, os.WNOHANG)
    return status if reaped == pid else None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signals.SIGKILL)
    except OSError:
        pass


def exit_code(status: int) -> int:
    """A wait status as an exit code; negative: killed by that signal."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


ERROR_WORDS = ("error", "fail", "denied", "invalid", "not found", "no such", "refused", "unable")


def brief(text: str, max_lines: int = 3, max_chars: int = 400) -> str:
    """A tool's error output on one line: its last few lines that read like errors
    (progress chatter dropped), else its last few lines."""
    lines: List[str] = []
    for line in text.splitlines():
        if line.strip() and line.strip() not in lines:
            lines.append(line.strip())
    errors = [line for line in lines if any(word in line.lower() for word in ERROR_WORDS)]
    joined = " / ".join((errors or lines)[-max_lines:])
    return joined if len(joined) <= max_chars else "..." + joined[-max_chars:]
