"""The one error root of the controller, and the CLI's named exit codes."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes of `fleet` (DESIGN.md pins them)."""

    OK = 0  # every selected host completed
    NOT_COMPLETED = 1  # one or more hosts failed, were unreachable or disconnected
    USAGE = 2  # usage or inventory error; nothing was contacted


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


class UsageError(FleetError):
    """Bad command line or inventory: exit 2, nothing contacted."""


class RunNotFound(FleetError):
    """`fleet report RUN_ID` names a run that was never recorded."""
