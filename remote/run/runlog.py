"""The run log: human lines and [STRUCT] event lines, to the log file and the terminal."""

from __future__ import annotations

import errno
import os
import time

from remote.kit.jsonio import dumps, loads_object
from remote.protocol import STRUCT_PREFIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Dict, Optional, Protocol, Tuple

    Clock = Callable[[], float]  # seconds since the epoch, as time.time()

    class Sink(Protocol):
        """Where a run's lines are echoed: a binary stdout, or a detached run's Echo."""

        def write(self, data: bytes, /) -> int: ...

        def flush(self) -> None: ...


# Events that reach the echo (the controller) only with the next event pushed: each is
# always followed by another event before the run waits for anything. Human lines are
# held too (they are for people reading the log, and may wait, e.g. during verify).
# Fewer, fuller writes: every write costs sshd and the controller a packet.
HELD_EVENTS = frozenset(
    ["stage_completed", "stage_skipped", "service_completed", "service_skipped"]
)

# Optional keys of an event, in the order they appear on the line.
EVENT_FIELDS = (
    "stage",
    "service",
    "status",
    "duration_ms",
    "message",
    "path",
    "kind",  # run_started: deploy | resume | rollback
    "image",  # image_pulled (and its warnings): the reference as compose names it
    "digest",  # image_pulled: the repo digest, where the registry gave one
    "size",  # image_pulled: bytes, where compose told them
    "rollback_run",  # run_failed: the rollback that goes on in this log (on_failure)
    "failed_run",  # a rollback of a failed run: run_started and its terminal event
    "release",  # ... and the release it goes back to
)


def utc_now() -> float:
    return time.time()


def iso_ts(moment: float) -> str:
    """UTC ISO 8601 with milliseconds, e.g. 2026-11-27T04:15:00.123Z."""
    seconds, millis = divmod(round(moment * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % millis


def file_ts(moment: float) -> str:
    """The `<timestamp>` of log and diagnostics file names: UTC YYYYmmddTHHMMSSZ."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))


def make_event(ts: str, host: str, run_id: str, event: str, **fields: Any) -> Dict[str, Any]:
    record: Dict[str, Any] = {"ts": ts, "host": host, "run_id": run_id, "event": event}
    for key in EVENT_FIELDS:
        if fields.get(key) is not None:
            record[key] = fields[key]
    return record


def struct_line(record: Dict[str, Any]) -> str:
    return STRUCT_PREFIX + dumps(record)


def parse_struct_line(line: bytes) -> Optional[Dict[str, Any]]:
    """The event of a [STRUCT] line, or None for a human line or a torn one."""
    prefix = STRUCT_PREFIX.encode()
    if not line.startswith(prefix):
        return None
    return loads_object(line[len(prefix) :])


def create_exclusive(directory: str, stem: str, suffix: str) -> Tuple[IO[bytes], str]:
    """Create `stem+suffix` in directory, or `stem-1+suffix`, ... if a run in the same
    second already took the name: two runs never share (or clobber) a file."""
    attempt = 0
    while True:
        name = stem + ("-%d" % attempt if attempt else "") + suffix
        path = os.path.join(directory, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            attempt += 1
            continue
        return os.fdopen(fd, "ab"), path


class RunLog(object):
    """Writes every line of a run to its log file (flushed per line) and to its echo (the
    terminal, or a detached run's SSH channel), flushing the echo at every event not in
    HELD_EVENTS. Text passes `scrub` first so that no .env value reaches the log."""

    def __init__(
        self,
        logfile: IO[bytes],
        path: str,
        host: str,
        run_id: str,
        echo: Optional[Sink] = None,
        clock: Clock = utc_now,
        scrub: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.path = path
        self.host = host
        self.run_id = run_id
        self._logfile = logfile
        self._echo = echo
        self._clock = clock
        self.scrub = scrub

    def event(self, name: str, **fields: Any) -> Dict[str, Any]:
        if fields.get("message") is not None:
            fields["message"] = self.scrub(str(fields["message"]))
        record = make_event(iso_ts(self._clock()), self.host, self.run_id, name, **fields)
        self._write(struct_line(record), push=name not in HELD_EVENTS)
        return record

    def say(self, text: str, push: bool = False) -> None:
        """Human lines (one per line of text), stamped with the time; `push` sends them to
        the echo at once (progress the controller shows, e.g. an image being pulled)."""
        stamp = iso_ts(self._clock())
        for line in self.scrub(text).splitlines() or [""]:
            self._write("%s %s" % (stamp, line), push=push)

    def tail(self, max_lines: int) -> str:
        with open(self.path, "rb") as handle:
            lines = handle.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-max_lines:])

    def close(self) -> None:
        self._logfile.close()

    def _write(self, line: str, push: bool) -> None:
        data = (line + "\n").encode("utf-8", "replace")
        self._logfile.write(data)
        self._logfile.flush()
        if self._echo is None:
            return
        try:
            self._echo.write(data)
            if push:
                self._echo.flush()
        except (OSError, ValueError):
            # The terminal went away (closed pipe, hung-up tty): the run carries on,
            # its log file is the record.
            self._echo = None
