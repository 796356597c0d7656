"""procs.run: a command's exit is seen as it happens, and no command outlives its timeout."""

from __future__ import annotations

import time

import pytest

from remote.kit import procs


def test_the_exit_status_and_output_are_the_commands() -> None:
    result = procs.run(["sh", "-c", "echo out; echo err >&2; exit 3"], 10)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.timed_out


def test_a_command_that_closes_its_output_and_lives_on_is_stopped_at_its_timeout() -> None:
    """EOF on both pipes is not the end: the wait for the exit keeps the deadline."""
    started = time.monotonic()
    result = procs.run(["sh", "-c", "exec >&- 2>&-; sleep 30"], 0.5)
    assert result.timed_out and result.returncode == -9
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("pidfd", [True, False])
def test_an_exit_right_after_closing_the_output_is_seen_at_once(
    pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a pidfd (Linux 5.3+, Python 3.9+) or without: no fixed pause per command."""
    if not pidfd:
        monkeypatch.delattr(procs.os, "pidfd_open", raising=False)
    result = procs.run(["sh", "-c", "exec >&- 2>&-; sleep 0.05"], 10)
    assert result.returncode == 0 and not result.timed_out
    assert result.duration_ms < 1000
