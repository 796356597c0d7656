"""The page's model: the summary rows and the timeline rows, placed in percent of the run.

Pure data in, plain data out (dataclasses of strings and numbers): the template only
loops and prints.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.htmlreport.timeline import HostLine, Span, host_line
from controller.report.words import plural

# Status in text beside its colour (colour alone says nothing to some readers, or on paper).
MARKS = {
    "completed": "✓",
    "failed": "✗",
    "rolled_back": "↶",
    "unreachable": "⊘",
    "disconnected": "⚡",
    "running": "…",
    "not_started": "○",
}
_MIN_WIDTH = 0.12  # percent: a bar of a few ms still shows (and can be hovered)
_TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200)


@dataclass
class Bar:
    cls: str
    left: float
    width: float
    text: str
    title: str


@dataclass
class Row:
    name: str
    status: str
    mark: str
    bars: list[Bar]
    after: str  # words beside the last bar: why it did not complete
    after_left: float
    notes: str  # untimed notes (reconnects), for the tooltip of their badge
    note_count: int


@dataclass
class Wave:
    number: int | None
    rows: list[Row] = field(default_factory=list)
    left: float = 0.0
    width: float = 0.0
    title: str = ""


@dataclass
class SummaryRow:
    name: str
    status: str
    mark: str
    wave: str
    last_stage: str
    services: str
    duration: str
    error: str
    failed_at: str
    diagnostics: str
    attempts: str


@dataclass
class Tick:
    left: float
    label: str


@dataclass
class Page:
    run_id: str
    status: str
    kinds: str
    started: str
    span: str
    counts: list[tuple[str, str, int]]
    summary: list[SummaryRow]
    waves: list[Wave]
    wave_count: int
    rollout: str
    ticks: list[Tick]
    legend: list[tuple[str, str]]


def clock(moment: float) -> str:
    """HH:MM:SS.mmm UTC of an epoch time."""
    whole, millis = divmod(round(moment * 1000), 1000)
    return time.strftime("%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}"


def seconds(value: float) -> str:
    """A duration as people read it: 850 ms, 12.3 s, 4 min 05 s."""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class Scale:
    """Epoch seconds to percent of the timeline's width."""

    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.length = max(end - start, 0.001)

    def at(self, moment: float) -> float:
        return round((moment - self.start) / self.length * 100, 3)

    def width(self, start: float, end: float) -> float:
        return max(round((end - start) / self.length * 100, 3), _MIN_WIDTH)

    def ticks(self, target: int = 10) -> list[Tick]:
        step = next((s for s in _TICK_STEPS if self.length / s <= target), _TICK_STEPS[-1])
        count = int(self.length // step)
        return [
            Tick(self.at(self.start + i * step), f"+{seconds(i * step)}") for i in range(count + 1)
        ]


def _bar(span: Span, scale: Scale, host: str) -> Bar:
    left, width = scale.at(span.start), scale.width(span.start, span.end)
    cls = f"b {span.kind} {span.status}"
    text = span.label
    if span.kind == "stage" and span.status == "failed":
        text = f"✗ {span.label} failed"
    elif span.kind == "gap":
        text = "⟲ " + span.label.split(":", 1)[0]  # the cause's head; the title has it all
    elif span.kind == "run":
        text = "↶ rollback" if span.detail == "rollback" else span.label
    elif span.status == "skipped":
        text = f"{span.label} (skipped)"
    where = f"{span.stage} · " if span.stage else ""
    title = (
        f"{host} · {where}{span.label} {span.status}: {clock(span.start)} → {clock(span.end)} UTC"
        f" ({seconds(span.end - span.start)})"
    )
    if span.detail and span.kind != "run":
        title += f"\n{span.detail}"
    return Bar(cls, left, width, text, title)


def _after(entry: Mapping[str, Any]) -> str:
    """What the row says after its bars when the host did not complete: its status (unless
    the error already starts with it), where it failed, why, and its diagnostics."""
    status = str(entry.get("status"))
    if status == "completed":
        return ""
    word = status.replace("_", " ")
    error = str(entry.get("error") or "")
    mark = MARKS.get(status, "?")
    failed = [svc for svc, state in (entry.get("services") or {}).items() if state == "failed"]
    parts = []
    if entry.get("failed_stage"):
        parts.append(f"in {entry['failed_stage']}" + (f" · {failed[0]}" if failed else ""))
    if error:
        parts.append(error)
    if entry.get("diagnostics"):
        parts.append(f"diagnostics: {entry['diagnostics']}")
    if error.startswith(word):
        return f"{mark} " + " — ".join(parts)
    return " — ".join([f"{mark} {word}", *parts])


def _row(line: HostLine, entry: Mapping[str, Any], scale: Scale) -> Row:
    status = str(entry.get("status") or "running")
    shown = [s for s in line.spans if s.kind != "run" or s.detail == "rollback"]
    bars = [_bar(s, scale, line.name) for s in shown]
    end = line.end
    return Row(
        name=line.name,
        status=status,
        mark=MARKS.get(status, "?"),
        bars=bars,
        after=_after(entry),
        after_left=scale.at(end) + 0.4 if end is not None else 0.0,
        notes="\n".join(line.untimed),
        note_count=sum(1 for n in line.untimed if "reconnect" in n or "link lost" in n),
    )


def _summary(name: str, entry: Mapping[str, Any]) -> SummaryRow:
    status = str(entry.get("status") or "running")
    services: Mapping[str, str] = entry.get("services") or {}
    done = sum(1 for s in services.values() if s in ("completed", "skipped"))
    failed = [svc for svc, state in services.items() if state == "failed"]
    attempts = entry.get("attempts")
    return SummaryRow(
        name=name,
        status=status,
        mark=MARKS.get(status, "?"),
        wave=str(entry.get("wave") or ""),
        last_stage=str(entry.get("last_stage") or "—"),
        services=f"{done}/{len(services)}",
        duration=seconds(float(entry.get("duration_s") or 0.0)),
        error=str(entry.get("error") or ""),
        failed_at=" · ".join(x for x in (entry.get("failed_stage"), *failed[:1]) if x),
        diagnostics=str(entry.get("diagnostics") or ""),
        attempts=str(attempts) if isinstance(attempts, int) and attempts > 1 else "",
    )


def _waves(
    rows: Sequence[Row], lines: Sequence[HostLine], numbers: Sequence[int | None], scale: Scale
) -> list[Wave]:
    """Consecutive rows of the same wave, with the band of time the wave took."""
    waves: list[Wave] = []
    spans: list[list[HostLine]] = []
    for row, line, number in zip(rows, lines, numbers, strict=True):
        if not waves or waves[-1].number != number:
            waves.append(Wave(number))
            spans.append([])
        waves[-1].rows.append(row)
        spans[-1].append(line)
    for wave, members in zip(waves, spans, strict=True):
        starts = [s for s in (m.start for m in members) if s is not None]
        ends = [e for e in (m.end for m in members) if e is not None]
        if wave.number is None or not starts:
            continue
        wave.left = scale.at(min(starts))
        wave.width = scale.width(min(starts), max(ends))
        wave.title = (
            f"wave {wave.number}: {clock(min(starts))} → {clock(max(ends))} UTC"
            f" ({seconds(max(ends) - min(starts))})"
        )
    return waves


def _rollout_text(rollout: Mapping[str, Any] | None) -> str:
    if not rollout:
        return ""
    parts = [plural(int(rollout.get("waves") or 1), "wave")]
    for key, label in (("canary", "canary"), ("batch", "batch"), ("max_fail", "max fail")):
        if rollout.get(key) is not None:
            parts.append(f"{label} {rollout[key]}")
    if rollout.get("stopped"):
        parts.append(f"stopped: {rollout['stopped']}")
    return " · ".join(parts)


LEGEND = [
    ("stage completed", "b stage completed"),
    ("✗ stage failed", "b stage failed"),
    ("service", "b service completed"),
    ("image pull / build", "b pull completed"),
    ("skipped", "b stage skipped"),
    ("⟲ reconnect / waiting", "b gap gap"),
    ("↶ rollback run", "b run rollback"),
]


def build_page(
    report: Mapping[str, Any], logs: Mapping[str, bytes], meta: Mapping[str, Any] | None = None
) -> Page:
    """The page for one recorded run: report.json's object, each host's log, meta.json's."""
    hosts: Mapping[str, Mapping[str, Any]] = report.get("hosts") or {}
    host_meta: Mapping[str, Any] = (meta or {}).get("hosts") or {}
    lines = [
        host_line(name, logs.get(name, b""), {**host_meta.get(name, {}), **_timed(entry)})
        for name, entry in hosts.items()
    ]
    starts = [s for s in (line.start for line in lines) if s is not None]
    ends = [e for e in (line.end for line in lines) if e is not None]
    first, last = (min(starts), max(ends)) if starts else (0.0, 1.0)
    scale = Scale(first, last)
    rows = [_row(line, hosts[line.name], scale) for line in lines]
    rolling = isinstance(report.get("rollout"), dict)
    numbers = [entry.get("wave") if rolling else None for entry in hosts.values()]
    statuses = [str(e.get("status")) for e in hosts.values()]
    kinds = sorted({k for line in lines for k in line.kinds})
    rollout = report.get("rollout")
    return Page(
        run_id=str(report.get("run_id") or "?"),
        status=str(report.get("status") or "?"),
        kinds=", ".join(kinds) or str((meta or {}).get("command") or "deploy"),
        started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(first)) if starts else "—",
        span=seconds(last - first) if starts else "—",
        counts=[
            (MARKS.get(s, "?"), s.replace("_", " "), statuses.count(s))
            for s in MARKS
            if s in statuses
        ],
        summary=[_summary(name, entry) for name, entry in hosts.items()],
        waves=_waves(rows, lines, numbers, scale),
        wave_count=int(rollout.get("waves") or 0) if isinstance(rollout, dict) else 0,
        rollout=_rollout_text(rollout if isinstance(rollout, dict) else None),
        ticks=scale.ticks(),
        legend=LEGEND,
    )


def _timed(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Gaps a report may carry in the host's own entry (beside meta.json's)."""
    return {key: entry[key] for key in ("gaps", "waiting") if isinstance(entry.get(key), list)}
