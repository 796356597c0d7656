"""The bench's timer ends every command it times (tests/bench/__main__.py: measure)."""

from __future__ import annotations

import os
import sys
import time

import pytest

from tests.bench import __main__ as bench


def test_a_command_that_says_much_on_stderr_is_timed_to_its_end() -> None:
    chatty = "import sys; sys.stderr.write('x' * 300_000); sys.exit(3)"
    sample = bench.measure([sys.executable, "-c", chatty], dict(os.environ), expect=(3,))
    assert sample.code == 3
    assert sample.wall_s < 10


def test_a_command_that_never_ends_is_killed_with_its_children(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "MEASURE_TIMEOUT_S", 0.5)
    started = time.monotonic()
    sample = bench.measure(["sh", "-c", "sleep 30 & sleep 30"], dict(os.environ))
    assert time.monotonic() - started < 5
    assert sample.code == -9
    assert "killed after" in capsys.readouterr().err
