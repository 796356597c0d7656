"""The renderers, into a Console writing to a string."""

from __future__ import annotations

import io
import time

from rich.console import Console

from controller.report.events import Event
from controller.report.model import FleetReport, HostResult, HostStatus, ServiceState
from controller.report.problems import Problem
from controller.report.view import (
    LiveView,
    PlainView,
    event_sentence,
    next_command,
    render_report,
    render_status,
)
from controller.session.outcome import new_result
from tests.unit.controller.fakes import make_host


def console() -> Console:
    return Console(file=io.StringIO(), width=200, color_system=None)


def text(c: Console) -> str:
    assert isinstance(c.file, io.StringIO)
    return c.file.getvalue()


def sample_report() -> FleetReport:
    ok = new_result(make_host("nas"))
    ok.status = HostStatus.COMPLETED
    ok.services = {"web": ServiceState.COMPLETED, "db": ServiceState.SKIPPED}
    ok.last_stage, ok.duration_s = "complete", 3.2
    bad = new_result(make_host("pi"))
    bad.status, bad.problem = HostStatus.FAILED, Problem.STAGE_FAILED
    bad.services = {"web": ServiceState.COMPLETED, "db": ServiceState.FAILED}
    bad.last_stage, bad.failed_stage = "diagnose", "deploy"
    bad.diagnostics = "/opt/homelab/logs/deploy/diagnostics_20260101T000000Z.txt"
    bad.diagnostics_text = "fleet diagnostics\n\nfailed service: db\ndb | boom\n"
    bad.error = "db failed in deploy: compose up failed"
    lte = new_result(make_host("CHELSTY"))
    lte.status, lte.problem = HostStatus.DISCONNECTED, Problem.LINK_LOST
    lte.error = "link lost during deploy"
    gone = new_result(make_host("mini"))
    gone.status, gone.problem = HostStatus.UNREACHABLE, Problem.HOST_KEY_CHANGED
    gone.error = "host key changed for 10.0.0.5:22"
    hosts = {r.name: r for r in (ok, bad, lte, gone)}
    return FleetReport(run_id="20260101T000000Z-abcdef", hosts=hosts)


def test_report_has_table_totals_diagnostics_and_next_commands() -> None:
    """The summary: a row per host, totals, the failed host's diagnostics, next commands."""
    c = console()
    render_report(c, sample_report(), inventory_arg="lab.yml")
    out = text(c)
    for header in ("host", "status", "last stage", "services", "duration", "failed at"):
        assert header in out
    assert "deploy/db" in out and "1/2" in out and "2/2" in out
    assert "4 hosts: 1 completed, 1 failed, 1 disconnected, 1 unreachable" in out
    assert "| db | boom" in out
    assert "fix db (see diagnostics), then: fleet resume -i lab.yml pi" in out
    assert "fleet resume -i lab.yml CHELSTY" in out
    assert "--accept-new" in out and "ssh-keygen -R" in out


def test_next_command_for_each_problem() -> None:
    """Every way of not completing has a concrete next command."""
    result = new_result(make_host("h"))
    for status in HostStatus:
        for problem in Problem:
            result.status, result.problem = status, problem
            nxt = next_command(result, "deploy", None)
            assert (nxt is None) == (status is HostStatus.COMPLETED)
    result.status, result.problem = HostStatus.UNREACHABLE, Problem.CONN_REFUSED
    assert next_command(result, "deploy", None) == (
        "start sshd on h (connection refused), then: fleet deploy --hosts h"
    )


def test_plain_view_prints_one_timed_sentence_per_event() -> None:
    """Non-terminal: `HH:MM:SS HOST STAGE SERVICE: what happened`, no escape codes."""
    c = console()
    noon = time.mktime((2026, 11, 27, 12, 4, 31, 0, 0, -1))
    view = PlainView(c, clock=lambda: noon)
    result = new_result(make_host("nas"))
    view.on_update(result, Event(event="service_started", stage="deploy", service="media"))
    done = Event(event="service_completed", stage="deploy", service="media", duration_ms=2100)
    view.on_update(result, done)
    failed = Event(event="stage_failed", stage="verify", message="media not healthy\nmore")
    view.on_update(result, failed)
    result.note = "retrying connect: connection refused by 10.0.0.5:22"
    view.on_update(result, None)
    result.note = None
    result.status, result.error = HostStatus.FAILED, "verify failed: media"
    view.on_update(result, None)
    assert text(c).splitlines() == [
        "12:04:31 nas deploy media: started",
        "12:04:31 nas deploy media: completed in 2.1s",
        "12:04:31 nas verify: failed: media not healthy",
        "12:04:31 nas: retrying connect: connection refused by 10.0.0.5:22",
        "12:04:31 nas: failed: verify failed: media",
    ]


def test_event_sentences_for_run_ends_name_the_outcome() -> None:
    """A run's end reads as completed, failed (with the diagnostics path) or refused."""
    completed = Event(event="run_completed", duration_ms=65000, message="2 completed")
    assert event_sentence("pi", completed) == "pi: run completed in 1m05s (2 completed)"
    failed = Event(event="run_failed", message="deploy failed: web", path="/d.txt")
    assert event_sentence("pi", failed) == "pi: run failed: deploy failed: web (/d.txt)"
    refused = Event(event="run_failed", status="refused", message="this host is busy")
    assert event_sentence("pi", refused) == "pi: run refused: this host is busy"


def test_live_table_shows_stage_service_and_elapsed() -> None:
    """The live table: a row per host, waiting hosts too, counts in the caption."""
    now = [100.0]
    live = LiveView(console(), [("a", 2), ("b", 1)], clock=lambda: now[0])
    result: HostResult = new_result(make_host("a"))
    result.stage, result.service = "deploy", "web"
    live.on_update(result, None)
    now[0] = 103.0
    c = console()
    c.print(live.table())
    out = text(c)
    assert "deploy" in out and "web" in out and "3.0s" in out and "waiting" in out


def test_status_table() -> None:
    """`fleet status` renders a row per host and what to run next."""
    c = console()
    render_status(c, sample_report())
    out = text(c)
    assert "fleet status" in out and "CHELSTY" in out and "fleet resume CHELSTY" in out
