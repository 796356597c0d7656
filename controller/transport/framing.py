"""Frames around what the controller parses from a command's output.

A login shell may print a banner (an `echo` in ~/.bashrc, a motd script) on stdout and
stderr before the command runs. Every command the controller parses therefore starts by
printing a line with a nonce of its own on both streams, and may end with another; only
what lies between them is the command's. A banner can never fake a nonce it has not seen.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

OnData = Callable[[bytes], None]


def _nonce() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Frame:
    """The markers of one command: `@@fleet-<nonce>-begin@@` ... `@@fleet-<nonce>-end@@`."""

    nonce: str = field(default_factory=_nonce)

    @property
    def begin(self) -> bytes:
        return f"@@fleet-{self.nonce}-begin@@".encode()

    @property
    def end(self) -> bytes:
        return f"@@fleet-{self.nonce}-end@@".encode()

    def wrap(self, command: str, *, end: bool = False) -> str:
        """The command, preceded by the begin line on stdout and stderr. `end` appends a
        newline and the end line on stdout once it has finished (not for commands that
        exec)."""
        begin = self.begin.decode()
        head = f"printf '%s\\n' {begin}; printf '%s\\n' {begin} >&2\n"
        if not end:
            return head + command
        return f"{head}{command}\nrc=$?; printf '\\n%s\\n' {self.end.decode()}; exit $rc"

    def inner(self, data: bytes) -> bytes:
        """What the command printed: after the begin line, before the end line if any.
        Without a begin line (the shell never ran the command) everything is kept."""
        start = _after_line(data, self.begin)
        if start < 0:
            return data
        body = data[start:]
        # The end line starts with a newline of its own, so output without a final
        # newline (a file's bytes) comes back unchanged.
        stop = body.rfind(b"\n" + self.end)
        return body[:stop] if stop >= 0 else body

    def stream(self, sink: OnData) -> OnData:
        """A stdout callback that drops everything up to the begin line, then passes on."""
        return _StreamGate(self.begin, sink).feed


def _after_line(data: bytes, marker: bytes) -> int:
    """Index just past `marker` and its newline, or -1. Anywhere, not only at a line's
    start: a banner without a final newline runs into it, and cannot guess the nonce."""
    at = data.find(marker + b"\n")
    return -1 if at < 0 else at + len(marker) + 1


class _StreamGate:
    """Holds back a stream's bytes until its begin line has gone by."""

    def __init__(self, begin: bytes, sink: OnData) -> None:
        self._begin = begin
        self._sink = sink
        self._held: bytes | None = b""

    def feed(self, chunk: bytes) -> None:
        if self._held is None:
            self._sink(chunk)
            return
        data = self._held + chunk
        start = _after_line(data, self._begin)
        if start < 0:
            # Keep only what could still be the start of the begin line.
            self._held = data[-len(self._begin) :]
            return
        self._held = None
        if start < len(data):
            self._sink(data[start:])
