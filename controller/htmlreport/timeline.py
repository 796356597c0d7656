"""A host's recorded run log turned into spans on a time line.

Works on the recorded text alone (report.json, meta.json, hosts/<name>.log): it imports
none of the controller's classes, so it reads any run recorded by any version that kept
the pinned [STRUCT] keys (DESIGN.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STRUCT_PREFIX = b"[STRUCT] "


@dataclass
class Span:
    """One bar: a stage, a service inside its stage, an image pull or a gap."""

    kind: str  # run | stage | service | pull | gap
    label: str
    start: float  # seconds since the epoch
    end: float
    status: str = "completed"  # completed | failed | skipped | running | rollback | gap
    detail: str = ""  # more words for the tooltip (error, image, cause)
    stage: str | None = None  # a service's or pull's stage


@dataclass
class HostLine:
    """Everything drawn in one host's row."""

    name: str
    spans: list[Span] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # run_started kinds, in order
    untimed: list[str] = field(default_factory=list)  # notes without a time (reconnects)
    warnings: list[str] = field(default_factory=list)

    @property
    def start(self) -> float | None:
        return min((s.start for s in self.spans), default=None)

    @property
    def end(self) -> float | None:
        return max((s.end for s in self.spans), default=None)


def parse_ts(value: object) -> float | None:
    """An event's `ts` (UTC ISO 8601, `Z` suffix) or a number of seconds, as epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def struct_events(log: bytes) -> list[dict[str, Any]]:
    """The [STRUCT] events of a run log, in order; human lines and torn lines are skipped."""
    events = []
    for line in log.splitlines():
        if not line.startswith(STRUCT_PREFIX):
            continue
        try:
            event = json.loads(line[len(STRUCT_PREFIX) :])
        except ValueError:
            continue
        if isinstance(event, dict) and parse_ts(event.get("ts")) is not None:
            events.append(event)
    return events


class _Builder:
    """Pairs start and end events into spans; an end without its start (a resumed log, a
    held event) starts `duration_ms` before it."""

    def __init__(self, name: str) -> None:
        self.line = HostLine(name)
        self._open: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._run: tuple[float, str, str] | None = None

    def feed(self, event: dict[str, Any]) -> None:
        name = str(event.get("event"))
        ts = parse_ts(event["ts"])
        assert ts is not None
        kind, _, phase = name.rpartition("_")
        if name == "run_started":
            self._close_run(ts, "running")
            self._run = (ts, str(event.get("kind") or "deploy"), _run_label(event))
            self.line.kinds.append(self._run[1])
        elif name in ("run_completed", "run_failed"):
            self._close_run(ts, "completed" if name == "run_completed" else "failed")
        elif name == "image_pulled" and event.get("status") != "skipped":
            self._pull(event, ts)  # a skipped pull (policy never, image present) took no time
        elif name == "warning" and event.get("message"):
            self.line.warnings.append(str(event["message"]))
        elif kind in ("stage", "service") and phase == "started":
            self._open[(kind, self._key(kind, event))] = (ts, event)
        elif kind in ("stage", "service") and phase in ("completed", "failed", "skipped"):
            self._end(kind, phase, event, ts)

    def finish(self, last_ts: float) -> HostLine:
        """Close what is still open at the last event seen: it was running then."""
        for (kind, key), (start, event) in list(self._open.items()):
            self._add(kind, key, start, last_ts, "running", event)
        self._open.clear()
        self._close_run(last_ts, "running")
        self.line.spans.sort(key=lambda s: (s.start, _DEPTH[s.kind]))
        return self.line

    @staticmethod
    def _key(kind: str, event: dict[str, Any]) -> str:
        if kind == "stage":
            return str(event.get("stage"))
        return f"{event.get('stage')}/{event.get('service')}"

    def _end(self, kind: str, phase: str, event: dict[str, Any], ts: float) -> None:
        key = self._key(kind, event)
        opened = self._open.pop((kind, key), None)
        if opened is not None:
            start = opened[0]
        else:
            start = ts - float(event.get("duration_ms") or 0) / 1000
        self._add(kind, key, start, ts, phase, event)

    def _add(
        self, kind: str, key: str, start: float, end: float, status: str, event: dict[str, Any]
    ) -> None:
        label = key.split("/", 1)[1] if kind == "service" else key
        detail = str(event.get("message") or "") if status == "failed" else ""
        stage = str(event.get("stage")) if kind == "service" else None
        self.line.spans.append(Span(kind, label, start, max(start, end), status, detail, stage))

    def _pull(self, event: dict[str, Any], ts: float) -> None:
        start = ts - float(event.get("duration_ms") or 0) / 1000
        image = str(event.get("image") or event.get("service") or "image")
        what = str(event.get("message") or event.get("status") or "pulled")
        self.line.spans.append(Span("pull", image, start, ts, "completed", what, "prepare"))

    def _close_run(self, ts: float, status: str) -> None:
        if self._run is None:
            return
        start, kind, label = self._run
        self._run = None
        shown = "rollback" if kind == "rollback" and status != "failed" else status
        self.line.spans.append(Span("run", label, start, ts, shown, kind))


def _run_label(started: dict[str, Any]) -> str:
    """`deploy run`; the rollback of a failed run (on_failure) names that run and the
    release it goes back to (the bar's tooltip)."""
    kind = str(started.get("kind") or "deploy")
    if not started.get("failed_run"):
        return f"{kind} run"
    return f"{kind} run of failed run {started['failed_run']} to release {started.get('release')}"


_DEPTH = {"run": 0, "stage": 1, "service": 2, "pull": 2, "gap": 3}


def host_line(name: str, log: bytes, host_meta: Mapping[str, Any] | None = None) -> HostLine:
    """One host's row from its recorded log and its meta (gaps, notes)."""
    builder = _Builder(name)
    events = struct_events(log)
    for event in events:
        builder.feed(event)
    last = parse_ts(events[-1]["ts"]) if events else 0.0
    line = builder.finish(last or 0.0)
    meta = host_meta or {}
    line.spans.extend(gaps_of(meta))
    line.untimed.extend(str(n) for n in meta.get("notes") or [] if n)
    return line


def gaps_of(meta: Mapping[str, Any]) -> Iterable[Span]:
    """Timed gaps in the controller's view of a host: `gaps` (reconnects) and `waiting`
    (--until-done), each a list of {start, end, cause}."""
    for key in ("gaps", "waiting"):
        entries = meta.get(key)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            start, end = parse_ts(entry.get("start")), parse_ts(entry.get("end"))
            if start is None or end is None:
                continue
            cause = str(entry.get("cause") or ("waiting" if key == "waiting" else "link lost"))
            yield Span("gap", cause, start, max(start, end), "gap", cause)
