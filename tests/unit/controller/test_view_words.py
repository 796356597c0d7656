"""What the views say in words: counts, a host never deployed, a failure said once."""

from __future__ import annotations

import io

from rich.console import Console

from controller.report.events import Event
from controller.report.model import FleetReport, HostStatus
from controller.report.problems import Problem
from controller.report.view import PlainView, render_status, totals_line
from controller.report.words import plural
from controller.session.outcome import new_result
from remote.kit.words import plural as runner_plural
from tests.unit.controller.fakes import make_host


def _console() -> Console:
    return Console(file=io.StringIO(), width=200, color_system=None)


def _text(console: Console) -> str:
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_plural_agrees_with_its_count() -> None:
    assert [plural(n, "host") for n in (0, 1, 2)] == ["0 hosts", "1 host", "2 hosts"]
    assert plural(1, "file") == "1 file" and plural(3, "entry", "entries") == "3 entries"


def test_the_runner_counts_alike() -> None:
    """The runner's twin (it ships alone): `revision abc: 1 file to send`."""
    for count in (0, 1, 2):
        for word, many in (("file", None), ("more service", None), ("entry", "entries")):
            assert runner_plural(count, word, many) == plural(count, word, many)


def test_totals_of_one_host_say_host() -> None:
    """`1 hosts: 1 completed` was the line under every one-host report."""
    one = new_result(make_host("nas"))
    one.status = HostStatus.COMPLETED
    line = totals_line(FleetReport(run_id="r", hosts={"nas": one})).plain
    assert line.startswith("1 host: 1 completed")


def test_status_calls_a_host_never_deployed_not_deployed() -> None:
    """Not `failed` (no run of fleet ever failed there); the next step is a deploy."""
    idle = new_result(make_host("idle"))
    idle.status, idle.problem = HostStatus.NOT_DEPLOYED, Problem.NEVER_DEPLOYED
    idle.error = "never deployed by fleet"
    console = _console()
    render_status(console, FleetReport(run_id="r", hosts={"idle": idle}), inventory_arg="h.yml")
    out = _text(console)
    assert "not_deployed" in out and "failed" not in out
    assert "idle: run fleet deploy -i h.yml --hosts idle" in out


def test_plain_view_says_a_verify_failure_once() -> None:
    """service_failed and stage_failed carry the same words: one line, and the host's
    last line does not repeat what its run_failed line said."""
    console = _console()
    view = PlainView(console, clock=lambda: 0.0)
    result = new_result(make_host("nas"))
    why = "service web is not healthy after 60s: exited (1)"
    for event in (
        Event("service_failed", stage="verify", service="web", message=why),
        Event("stage_failed", stage="verify", service="web", message=why),
        Event("run_failed", stage="verify", service="web", message=f"verify failed: {why}"),
    ):
        view.on_update(result, event)
    result.status, result.error = HostStatus.FAILED, f"verify failed: {why}"
    view.on_update(result, None)
    out = _text(console)
    assert out.count(why) == 2, out  # the service's line, the run's line
    assert out.splitlines()[-1].endswith("nas: failed")
