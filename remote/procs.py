"""Running a command as argv (never a shell string), with a timeout that really stops it."""

import contextlib
import os
import re
import signal
import subprocess
import time
from typing import List, NamedTuple, Optional

NOT_FOUND = 127


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run(argv: List[str], timeout: float, cwd: Optional[str] = None) -> Result:
    """Run argv to completion or timeout. The child gets its own session so that a
    timeout (or our own interruption) kills its whole process group, and so that no
    tool (git over ssh) can prompt on a terminal."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=dict(os.environ, GIT_TERMINAL_PROMPT="0"),
        )
    except OSError as exc:
        return Result(NOT_FOUND, "", "cannot run %s: %s" % (argv[0], exc.strerror), False, 0)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        stdout, stderr = proc.communicate()
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    elapsed = int((time.monotonic() - started) * 1000)
    return Result(proc.returncode, _text(stdout), _text(stderr), timed_out, elapsed)


def _kill_group(proc: "subprocess.Popen[bytes]") -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


ERROR_WORDS = re.compile(r"error|fail|denied|invalid|not found|no such|refused|unable", re.I)


def brief(text: str, max_lines: int = 3, max_chars: int = 400) -> str:
    """A tool's error output on one line: its last few lines that read like errors
    (progress chatter dropped), else its last few lines."""
    lines: List[str] = []
    for line in text.splitlines():
        if line.strip() and line.strip() not in lines:
            lines.append(line.strip())
    errors = [line for line in lines if ERROR_WORDS.search(line)]
    joined = " / ".join((errors or lines)[-max_lines:])
    return joined if len(joined) <= max_chars else "..." + joined[-max_chars:]
