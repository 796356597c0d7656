"""Streaming a run's log from a byte offset until the run ends."""

from __future__ import annotations

import os
import time

from remote.protocol import ROLLED_BACK, TERMINAL_EVENTS, Exit
from remote.run.runlog import parse_struct_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Callable, Optional, Tuple

POLL_S = 0.05
CHUNK = 65536


class ReaderGone(Exception):
    """The process reading our stdout went away (the controller's SSH channel closed)."""


def follow(
    path: str,
    offset: int,
    run_id: str,
    out: IO[bytes],
    run_is_alive: Callable[[], bool],
    poll_s: float = POLL_S,
) -> int:
    """Copy the log's bytes from `offset` to `out` as they come. Ends after copying the
    run's terminal event line (OK / FAILED), or with VANISHED when no process runs it
    any more and the file has nothing left. Raises ReaderGone when `out` is closed."""
    handle = _wait_for_file(path, run_is_alive, poll_s)
    if handle is None:
        return Exit.VANISHED
    with handle:
        handle.seek(offset)
        partial = b""
        while True:
            data = handle.read(CHUNK)
            if not data:
                if run_is_alive():
                    time.sleep(poll_s)
                    continue
                data = handle.read(CHUNK)  # the run may have written its last bytes and gone
                if not data:
                    return Exit.VANISHED
            end, code, run_id = _terminal_end(partial, data, run_id)
            _write(out, data if end is None else data[:end])
            if code is not None:
                return code
            partial = (partial + data).rpartition(b"\n")[2]


def _wait_for_file(
    path: str, run_is_alive: Callable[[], bool], poll_s: float
) -> Optional[IO[bytes]]:
    while True:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            if not run_is_alive():
                return None
            time.sleep(poll_s)


def _terminal_end(
    partial: bytes, data: bytes, run_id: str
) -> Tuple[Optional[int], Optional[int], str]:
    """Where in `data` the run's terminal line ends, the exit code it means, and the run
    followed from there on: a failed run that a rollback continues (`rollback_run`, in
    the same log) is followed on to the rollback's end. `partial` is the unfinished line
    that preceded `data`."""
    text = partial + data
    start = 0
    while True:
        newline = text.find(b"\n", start)
        if newline < 0:
            return None, None, run_id
        record = parse_struct_line(text[start:newline])
        if record and record.get("run_id") == run_id and record.get("event") in TERMINAL_EVENTS:
            if record.get("rollback_run"):
                run_id = str(record["rollback_run"])
            else:
                done = record["event"] == "run_completed" and record.get("status") != ROLLED_BACK
                return newline + 1 - len(partial), Exit.OK if done else Exit.FAILED, run_id
        start = newline + 1


def _write(out: IO[bytes], data: bytes) -> None:
    if not data:
        return
    try:
        out.write(data)
        out.flush()
    except (BrokenPipeError, ConnectionResetError):
        raise ReaderGone() from None


def silence_stdout() -> None:
    """After the reader went away: point stdout at /dev/null so that the interpreter's
    final flush does not fail again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
