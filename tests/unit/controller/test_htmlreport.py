"""The HTML report: one self-contained page from a recorded run (issue #32)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from controller.htmlreport import load_run, render_html, render_run, write_run_html
from controller.htmlreport.timeline import host_line
from tests.unit.controller.htmlsynth import (
    STAGES,
    T0,
    LogWriter,
    external_references,
    host_log,
    parse,
    synthetic_run,
    text_of,
)

BOUND_S = 2.0
MAX_BYTES = 3_000_000


def test_500_hosts_render_within_the_bound_and_under_a_few_megabytes() -> None:
    """A 500-host rolling run (5 waves) renders in under 2 s into a page under 3 MB."""
    report, logs, meta = synthetic_run(500)
    started = time.perf_counter()
    html = render_html(report, logs, meta)
    elapsed = time.perf_counter() - started
    assert elapsed < BOUND_S, f"{elapsed:.2f} s"
    assert len(html.encode()) < MAX_BYTES
    assert html.count('class="row"') == 500


def test_the_page_references_nothing_outside_itself() -> None:
    """No script, stylesheet, font or image is fetched: no src/href, url() or http(s) link."""
    html = render_html(*synthetic_run(40, batch=10))
    assert external_references(html) == []
    assert "<style>" in html


def test_the_check_sees_an_outside_reference() -> None:
    """The reference check itself finds what it looks for (so a pass means something)."""
    page = "<html><head><style>b{background:url(https://x.test/a.png)}</style></head>"
    page += '<body><img src="a.png"><a href="//cdn.test/x">x</a></body></html>'
    assert len(external_references(page)) >= 3


def test_every_host_and_stage_is_named_in_the_text() -> None:
    """The page's text (not only its colours) names each host, each stage that ran, and
    each service."""
    report, logs, meta = synthetic_run(12, batch=5)
    text = text_of(render_html(report, logs, meta))
    for name in report["hosts"]:
        assert name in text
    for stage in STAGES:
        assert stage in text
    for svc in ("svc0", "svc1", "svc2", "web", "db"):
        assert svc in text


def test_a_failed_host_says_so_in_words_with_its_stage_service_error_and_diagnostics() -> None:
    """Failure is text as well as colour: the mark, the word, where, why and the path."""
    report, logs, meta = synthetic_run(6, batch=6)
    text = text_of(render_html(report, logs, meta))
    assert "✗ verify failed" in text
    assert "✗ failed — in verify · web — web: container exited (1)" in text
    assert "diagnostics: /opt/homelab/logs/deploy/diagnostics_x.txt" in text


def test_waves_are_bands_with_their_times() -> None:
    """A rolling run shows each wave's head and band, with the wave's exact times."""
    html = render_html(*synthetic_run(12, batch=5))
    assert html.count('class="band"') == 3
    text = text_of(html)
    assert "wave 1 of 3" in text and "wave 3 of 3" in text
    assert re.search(r"wave 1: \d\d:\d\d:\d\d\.\d{3} → \d\d:\d\d:\d\d\.\d{3} UTC", text)


def test_bars_carry_exact_times_in_their_titles() -> None:
    """Hovering a bar gives its start and end to the millisecond, and its duration."""
    html = render_html(*synthetic_run(2, batch=2))
    titles = [value for name, value in parse(html).attrs if name == "title"]
    assert any(
        re.search(r"host-000 · prepare completed: \d\d:\d\d:\d\d\.\d{3} → ", t) for t in titles
    )


def test_a_timed_gap_and_untimed_reconnect_notes_are_shown_with_their_cause() -> None:
    """meta's `gaps` are placed as bars with their cause; notes without a time become a
    badge on the host's name."""
    html = render_html(*synthetic_run(8, batch=8))
    text = text_of(html)
    assert "⟲ link lost; reconnecting" in text
    assert "⟲1" in text
    assert 'title="link lost; reconnecting (attempt 1)"' in html


def test_waiting_in_the_hosts_entry_is_a_gap_too() -> None:
    """--until-done's `waiting` entries (in report.json's host entry) are gaps as well."""
    report, logs, meta = synthetic_run(2, batch=2)
    report["hosts"]["host-001"]["waiting"] = [
        {"start": T0 + 1, "end": T0 + 4, "cause": "waiting for the host to come back"}
    ]
    assert "⟲ waiting for the host to come back" in text_of(render_html(report, logs, meta))


def test_a_rollback_run_is_a_bar_of_its_own() -> None:
    """A log that holds a failed deploy and then a rollback run draws the rollback apart."""
    first, end = host_log("nas", "r1", T0, ["web"], fail="web")
    second, _ = host_log("nas", "r1", end + 1, ["web"], kind="rollback")
    report = {"run_id": "r1", "status": "failed", "hosts": {"nas": {"status": "rolled_back"}}}
    html = render_html(report, {"nas": first + second})
    text = text_of(html)
    assert "↶ rollback" in text and "↶ rolled back" in text
    assert html.count('class="b run rollback"') == 2  # the legend's and the host's


def test_an_end_without_its_start_is_placed_by_its_duration() -> None:
    """A stage_completed whose stage_started is not in the log (held, or an older run) starts
    duration_ms before it."""
    log = LogWriter("nas", "r1")
    log.event(T0 + 10, "stage_completed", stage="deploy", duration_ms=4000)
    (span,) = host_line("nas", log.bytes()).spans
    assert (span.label, span.start, span.end) == ("deploy", T0 + 6, T0 + 10)


def test_a_run_cut_short_leaves_its_open_stage_running_at_the_last_event() -> None:
    """A log that stops mid-stage (a disconnected host) shows that stage running."""
    log = LogWriter("CHELSTY", "r1")
    log.event(T0, "run_started", kind="deploy")
    log.event(T0 + 1, "stage_started", stage="deploy")
    log.event(T0 + 3, "service_completed", stage="deploy", service="a", duration_ms=2000)
    stage = [s for s in host_line("CHELSTY", log.bytes()).spans if s.kind == "stage"]
    assert [(s.label, s.status, s.end) for s in stage] == [("deploy", "running", T0 + 3)]


def test_torn_and_human_lines_are_passed_over() -> None:
    """Only whole [STRUCT] lines count; a torn one or a human one is not an event."""
    log = b'2026 hello\n[STRUCT] {"ts": "2026-11-30T00:00:00.000Z", "event": "stage_comp\n'
    assert host_line("nas", log).spans == []


def test_inventory_text_is_escaped() -> None:
    """An error holding markup is shown as text, never as markup."""
    report = {
        "run_id": "r1",
        "status": "failed",
        "hosts": {"nas": {"status": "unreachable", "error": "<script>alert(1)</script>"}},
    }
    html = render_html(report, {})
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_run_without_any_log_renders() -> None:
    """Every host unreachable: no bars, but the table and the rows."""
    report = {"run_id": "r1", "status": "failed", "hosts": {"nas": {"status": "unreachable"}}}
    text = text_of(render_html(report, {}))
    assert "nas" in text and "unreachable" in text


def test_the_page_is_printable_and_dark_mode_aware() -> None:
    """The inline CSS has a print style and a dark palette."""
    html = render_html(*synthetic_run(2, batch=2))
    assert "@media print" in html and "prefers-color-scheme: dark" in html


def test_a_recorded_run_folder_renders_and_writes(tmp_path: Path) -> None:
    """The folder as store.py records it (report.json, meta.json, hosts/<name>.log)."""
    report, logs, meta = synthetic_run(4, batch=4)
    folder = tmp_path / report["run_id"]
    (folder / "hosts").mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "meta.json").write_text(json.dumps(meta))
    for name, log in logs.items():
        (folder / "hosts" / f"{name}.log").write_bytes(log)
    assert load_run(folder) == (report, logs, meta)
    out = write_run_html(folder, tmp_path / "run.html")
    assert out.read_text(encoding="utf-8") == render_run(folder)


@pytest.mark.parametrize("count", [1, 5])
def test_small_runs_render(count: int) -> None:
    """A one-host run and a five-host run without waves render every host's row."""
    report, logs, meta = synthetic_run(count, batch=count)
    del report["rollout"]
    html = render_html(report, logs, meta)
    assert html.count('class="row"') == count and 'class="band"' not in html
