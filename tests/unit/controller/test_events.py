"""[STRUCT] parsing, line splitting by offset, and folding events into a host's result."""

from __future__ import annotations

from controller.report.events import apply, parse_line
from controller.report.model import HostStatus, ServiceState
from controller.report.problems import Problem
from controller.session.follow import LineReader
from controller.session.outcome import new_result
from tests.unit.controller.fakes import make_host, run_log, struct


def test_plain_and_malformed_lines_are_not_events() -> None:
    """Only well-formed `[STRUCT] {json}` lines with an event are events."""
    assert parse_line(b"docker compose says hello") is None
    assert parse_line(b"[STRUCT] {not json") is None
    assert parse_line(b'[STRUCT] ["a list"]') is None
    assert parse_line(b'[STRUCT] {"no_event": 1}') is None
    assert parse_line(b'[STRUCT] {"event": "warning", "message": "\xff"}') is None
    ev = parse_line(struct(event="stage_started", stage="deploy").rstrip())
    assert ev is not None and ev.event == "stage_started" and ev.stage == "deploy"


def test_offset_counts_only_whole_lines() -> None:
    """A line split across chunks is counted once, when its newline arrives."""
    seen: list[bytes] = []
    reader = LineReader(seen.append, None)
    reader.feed(b"one\ntw")
    assert reader.offset == 4 and seen == [b"one"]
    reader.feed(b"o\nthree")
    assert reader.offset == 8 and seen == [b"one", b"two"]
    reader.drop_partial()
    reader.feed(b"three\n")
    assert reader.offset == 14 and seen[-1] == b"three"


def test_folding_a_completed_run() -> None:
    """A full run log folds into completed, every service done, last stage complete."""
    result = new_result(make_host("h"))
    reader = LineReader(lambda line: _fold(result, line), None)
    for i in range(0, 4000, 7):
        reader.feed(run_log("h", "r", ("web", "db"))[i : i + 7])
    assert result.status is HostStatus.COMPLETED
    assert result.services == {"web": ServiceState.COMPLETED, "db": ServiceState.COMPLETED}
    assert result.last_stage == "complete" and result.last_service == "db"
    assert result.log is not None and result.log.endswith(".log")


def test_folding_a_failed_run_names_service_and_stage() -> None:
    """A failed service: failed_stage, the service failed, later ones pending, error says so."""
    result = new_result(make_host("h", ("web", "db", "cache")))
    for line in run_log("h", "r", ("web", "db", "cache"), fail="db").splitlines():
        _fold(result, line)
    assert result.status is HostStatus.FAILED and result.problem is Problem.STAGE_FAILED
    assert result.failed_stage == "deploy" and result.failed_service == "db"
    assert result.last_stage == "deploy"  # diagnose ran, but is never the stage reached
    assert result.services["cache"] is ServiceState.PENDING
    assert result.error is not None and result.error.startswith("db failed in deploy")
    assert result.diagnostics is not None


def test_refused_run_names_the_lock_holder() -> None:
    """run_failed with status refused: a refusal, not a stage failure."""
    result = new_result(make_host("h"))
    _fold(result, struct(event="run_failed", status="refused", message="held by run R1").strip())
    assert result.problem is Problem.REFUSED_LOCKED
    assert result.error == "refused: held by run R1"


def test_warnings_are_kept() -> None:
    """A warning event (git pull failed) is kept for the report."""
    result = new_result(make_host("h"))
    _fold(result, struct(event="warning", stage="prepare", message="git pull failed").strip())
    assert result.warnings == ["git pull failed"]


def _fold(result, line: bytes) -> None:  # type: ignore[no-untyped-def]
    ev = parse_line(line)
    if ev is not None:
        apply(result, ev)


def test_an_image_being_pulled_is_the_hosts_note_until_its_event() -> None:
    """The pushed `pulling IMAGE for SVC` line is the host's note; image_pulled clears it."""
    result = new_result(make_host("h"))
    progress = parse_line(b"2026-01-01T00:00:00.000Z pulling reg/a:1 for web")
    assert progress is not None and progress.event == "progress"
    apply(result, progress)
    assert result.note == "pulling reg/a:1 for web"
    assert parse_line(b"2026-01-01T00:00:00.000Z web: healthy") is None
    done = parse_line(struct(event="image_pulled", stage="prepare", image="reg/a:1").rstrip())
    assert done is not None
    apply(result, done)
    assert result.note is None
