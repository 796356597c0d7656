"""One reconnect deadline per host, so that no path through a host's run loops.

Every lost link of a host draws on the same `--reconnect-timeout`. A reconnection that
succeeds and then fails again at the same step (no new byte of the run's log arrived in
between) does not start a fresh deadline: only progress does.
"""

from __future__ import annotations

from collections.abc import Callable


class ReconnectDeadline:
    """When a host's reconnecting must give up; restarted only by progress."""

    def __init__(self, timeout: float, clock: Callable[[], float]) -> None:
        self.timeout = timeout
        self._clock = clock
        self._expires: float | None = None
        self._progress: int | None = None

    def link_lost(self, progress: int) -> bool:
        """A link was lost after `progress` (bytes of log seen): start the clock (True)
        or keep the one already running, when nothing was gained since (False)."""
        if self._expires is None or progress != self._progress:
            self._expires = self._clock() + self.timeout
            self._progress = progress
            return True
        return False

    def remaining(self) -> float:
        """Seconds left to reconnect in (0 when spent; the full timeout before any loss)."""
        if self._expires is None:
            return self.timeout
        return max(0.0, self._expires - self._clock())

    @property
    def spent(self) -> bool:
        return self._expires is not None and self._clock() >= self._expires
