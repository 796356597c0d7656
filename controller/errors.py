"""The one error root of the controller, the CLI's named exit codes, and one-line messages."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes of `fleet` (docs/design.md pins them)."""

    OK = 0  # every selected host completed
    NOT_COMPLETED = 1  # one or more hosts failed, were unreachable or disconnected
    USAGE = 2  # usage or inventory error; nothing was contacted
    INTERNAL = 3  # a bug in fleet itself (its traceback is in a crash log), not a host's doing


class FleetError(Exception):
    """Root of every error the controller raises on purpose.

    `host` names the host it concerns (None for fleet-wide errors); `hint` is the
    next thing an operator can do about it.
    """

    def __init__(self, message: str, *, host: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.host = host
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class RunNotFound(FleetError):
    """`fleet report RUN_ID` names a run that was never recorded."""


def one_line(text: str, limit: int = 300) -> str:
    """First non-empty line of a message, bounded, for the report's `error`."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def last_line(text: str, limit: int = 300) -> str:
    """Last non-empty line of a message, bounded: where a traceback ends in its reason."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""
