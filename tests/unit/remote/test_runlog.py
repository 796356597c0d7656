"""[STRUCT] lines and the run log."""

from __future__ import annotations

import datetime
import io
import json
import re
from pathlib import Path

from remote.run.runlog import (
    RunLog,
    create_exclusive,
    iso_ts,
    make_event,
    parse_struct_line,
    struct_line,
)

MOMENT = datetime.datetime(2026, 11, 27, 4, 15, 0, 123456, tzinfo=datetime.timezone.utc)


def fixed_clock() -> float:
    return MOMENT.timestamp()


class BrokenPipe(io.BytesIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        raise BrokenPipeError(32, "Broken pipe")


def test_struct_line_format_is_exact() -> None:
    """Prefix, key order (ts, host, run_id, event, then optional keys), compact JSON."""
    record = make_event(
        iso_ts(MOMENT.timestamp()), "nas", "r1", "service_completed",
        path=None, duration_ms=12, service="web", stage="deploy", status="completed",
    )  # fmt: skip
    assert struct_line(record) == (
        '[STRUCT] {"ts":"2026-11-27T04:15:00.123Z","host":"nas","run_id":"r1",'
        '"event":"service_completed","stage":"deploy","service":"web",'
        '"status":"completed","duration_ms":12}'
    )


def test_iso_ts_is_utc_with_milliseconds() -> None:
    """Seconds since the epoch in UTC; milliseconds are always three digits."""
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    moment = datetime.datetime(2026, 1, 2, 5, 0, 0, 7000, tzinfo=plus_two)
    assert iso_ts(moment.timestamp()) == "2026-01-02T03:00:00.007Z"
    assert iso_ts(1767322799.9996) == "2026-01-02T03:00:00.000Z"


def test_parse_struct_line_ignores_human_and_torn_lines() -> None:
    """Only whole [STRUCT] lines parse."""
    assert parse_struct_line(b'[STRUCT] {"event":"x"}') == {"event": "x"}
    assert parse_struct_line(b"2026-11-27T04:15:00.123Z hello") is None
    assert parse_struct_line(b'[STRUCT] {"event":') is None


def test_run_log_writes_file_and_echo(tmp_path: Path) -> None:
    """Every line goes to the file (flushed at once) and to the echo stream."""
    handle, path = create_exclusive(str(tmp_path), "deploy_x", ".log")
    echo = io.BytesIO()
    log = RunLog(handle, path, "nas", "r1", echo, fixed_clock)
    log.event("stage_started", stage="deploy")
    assert Path(path).read_bytes() == echo.getvalue()  # flushed without closing
    log.say("two\nlines")
    lines = Path(path).read_text().splitlines()
    assert lines[1:] == ["2026-11-27T04:15:00.123Z two", "2026-11-27T04:15:00.123Z lines"]
    log.close()


def test_run_log_survives_a_closed_terminal(tmp_path: Path) -> None:
    """A broken stdout stops the echo, never the run or its log file."""
    handle, path = create_exclusive(str(tmp_path), "deploy_x", ".log")
    log = RunLog(handle, path, "nas", "r1", BrokenPipe(), fixed_clock)
    log.event("stage_started", stage="deploy")
    log.event("stage_completed", stage="deploy")
    assert len(Path(path).read_text().splitlines()) == 2
    log.close()


def test_run_log_scrubs_messages_and_human_lines(tmp_path: Path) -> None:
    """The scrubber sees every message and human line before it is written."""
    handle, path = create_exclusive(str(tmp_path), "deploy_x", ".log")
    log = RunLog(handle, path, "nas", "r1", None, fixed_clock, lambda t: t.replace("pw", "***"))
    log.event("warning", message="pw leaked")
    log.say("pw again")
    log.close()
    text = Path(path).read_text()
    assert "pw" not in text
    assert json.loads(text.splitlines()[0][len("[STRUCT] ") :])["message"] == "*** leaked"


def test_create_exclusive_never_clobbers(tmp_path: Path) -> None:
    """Two runs in the same second get deploy_<ts>.log and deploy_<ts>-1.log."""
    first = create_exclusive(str(tmp_path), "deploy_20261127T041500Z", ".log")
    second = create_exclusive(str(tmp_path), "deploy_20261127T041500Z", ".log")
    names = [Path(first[1]).name, Path(second[1]).name]
    assert names == ["deploy_20261127T041500Z.log", "deploy_20261127T041500Z-1.log"]
    for handle, _ in (first, second):
        handle.close()
    assert all(re.fullmatch(r"deploy_\d{8}T\d{6}Z(-\d+)?\.log", n) for n in names)


class CountingSink(io.BytesIO):
    """An echo that notes how much had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed_at: list[int] = []

    def flush(self) -> None:
        self.flushed_at.append(len(self.getvalue()))


def test_human_lines_and_completions_ride_with_the_next_pushed_line(tmp_path: Path) -> None:
    """The echo is flushed at events after which the run may wait (a start, a failure,
    the end), never at human lines or *_completed / *_skipped events."""
    handle, path = create_exclusive(str(tmp_path), "deploy", ".log")
    sink = CountingSink()
    log = RunLog(handle, path, "nas", "r1", sink, fixed_clock)
    log.event("service_started", service="web")
    log.say("compose output")
    log.event("service_completed", service="web")
    assert len(sink.flushed_at) == 1
    log.event("stage_started", stage="verify")
    log.event("stage_failed", stage="verify")
    log.event("run_completed")
    assert len(sink.flushed_at) == 4
    assert sink.flushed_at[-1] == len(sink.getvalue()) == Path(path).stat().st_size
