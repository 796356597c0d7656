"""For the HTML report's tests: a synthetic recorded run (report.json, logs, meta.json) and
the checks of a page (its text, and anything it would fetch from outside itself)."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from typing import Any

STAGES = ("prepare", "validate", "deploy", "verify", "complete")
T0 = 1_796_000_000.0  # 2026-11-30, a fixed moment: pages are reproducible


def iso(moment: float) -> str:
    seconds, millis = divmod(round(moment * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class LogWriter:
    """One host's run log, human lines and [STRUCT] lines, as the runner writes it."""

    def __init__(self, host: str, run_id: str) -> None:
        self.host, self.run_id = host, run_id
        self.lines: list[str] = []

    def event(self, at: float, event: str, **fields: Any) -> None:
        record = {"ts": iso(at), "host": self.host, "run_id": self.run_id, "event": event}
        record.update({k: v for k, v in fields.items() if v is not None})
        self.lines.append(f"{iso(at)} {event} {fields.get('stage', '')}")
        self.lines.append("[STRUCT] " + json.dumps(record))

    def bytes(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def host_log(
    host: str,
    run_id: str,
    start: float,
    services: list[str],
    fail: str | None = None,
    kind: str = "deploy",
) -> tuple[bytes, float]:
    """A run through the stages; `fail` names a service whose verify fails."""
    log = LogWriter(host, run_id)
    log.event(start, "run_started", status="running", kind=kind)
    at = start
    for stage in STAGES:
        log.event(at, "stage_started", stage=stage)
        if stage == "prepare":
            for svc in services:
                at += 0.8
                log.event(
                    at,
                    "image_pulled",
                    stage=stage,
                    service=svc,
                    image=f"{svc}:1",
                    status="pulled",
                    duration_ms=800,
                )
        if stage in ("deploy", "verify"):
            for svc in services:
                log.event(at, "service_started", stage=stage, service=svc)
                at += 1.5
                if stage == "verify" and svc == fail:
                    log.event(
                        at,
                        "service_failed",
                        stage=stage,
                        service=svc,
                        message=f"{svc}: container exited (1)",
                    )
                    log.event(at, "stage_failed", stage=stage, message=f"{svc} unhealthy")
                    at += 0.5
                    log.event(at, "diagnostics_collected", stage="diagnose", path="/d.txt")
                    log.event(at, "run_failed", status="failed")
                    return log.bytes(), at
                log.event(at, "service_completed", stage=stage, service=svc, duration_ms=1500)
        at += 0.3
        log.event(at, "stage_completed", stage=stage, duration_ms=300)
    log.event(at, "run_completed", status="completed")
    return log.bytes(), at


def synthetic_run(
    count: int, batch: int = 100
) -> tuple[dict[str, Any], dict[str, bytes], dict[str, Any]]:
    """`count` hosts in waves of `batch`: host 3 fails verify, host 5 reconnects (a timed gap
    and an untimed note), host 7 is unreachable, the last wave never starts."""
    run_id = "20261130T000000Z-abc123"
    hosts: dict[str, Any] = {}
    logs: dict[str, bytes] = {}
    meta: dict[str, Any] = {"command": "deploy", "hosts": {}}
    waves = -(-count // batch)
    for i in range(count):
        name = f"host-{i:03d}"
        wave = i // batch + 1
        services = [f"svc{i % 3}", "web", "db"]
        start = T0 + (wave - 1) * 30 + (i % 7) * 0.2
        entry: dict[str, Any] = {
            "status": "completed",
            "last_stage": "complete",
            "failed_stage": None,
            "last_service": services[-1],
            "services": dict.fromkeys(services, "completed"),
            "log": f"/opt/homelab/logs/deploy/deploy_{i}.log",
            "diagnostics": None,
            "error": None,
            "duration_s": 0.0,
            "wave": wave,
        }
        host_meta: dict[str, Any] = {"notes": []}
        if waves > 1 and wave == waves:
            entry.update(
                status="not_started",
                last_stage=None,
                last_service=None,
                services=dict.fromkeys(services, "pending"),
                error="not started: failure budget spent in wave 1",
            )
        elif i == 7:
            entry.update(
                status="unreachable",
                last_stage=None,
                services=dict.fromkeys(services, "pending"),
                error="connection refused by 127.0.1.7:22",
            )
        else:
            fail = "web" if i == 3 else None
            logs[name], end = host_log(name, run_id, start, services, fail)
            entry["duration_s"] = round(end - start, 2)
            if fail:
                entry.update(
                    status="failed",
                    last_stage="verify",
                    failed_stage="verify",
                    services={**entry["services"], "web": "failed", "db": "pending"},
                    error="web: container exited (1)",
                    diagnostics="/opt/homelab/logs/deploy/diagnostics_x.txt",
                )
            if i == 5:
                host_meta["notes"] = ["link lost; reconnecting (attempt 1)"]
                host_meta["gaps"] = [
                    {
                        "start": iso(start + 3),
                        "end": iso(start + 7),
                        "cause": "link lost; reconnecting",
                    }
                ]
        hosts[name] = entry
        meta["hosts"][name] = host_meta
    report = {
        "run_id": run_id,
        "status": "failed",
        "hosts": hosts,
        "rollout": {
            "batch": str(batch),
            "canary": None,
            "max_fail": "1",
            "waves": waves,
            "stopped": "failure budget spent in wave 1",
        },
    }
    return report, logs, meta


_EXTERNAL_TAGS = {"script", "link", "img", "iframe", "object", "embed", "audio", "video", "source"}


class PageParts(HTMLParser):
    """The page's text, every attribute, its tags and its CSS."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.tags: set[str] = set()
        self.css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._in_style = tag == "style"
        self.attrs.extend((name, value or "") for name, value in attrs)
        self.css.extend(value or "" for name, value in attrs if name == "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.css if self._in_style else self.text).append(data)


def parse(html: str) -> PageParts:
    parts = PageParts()
    parts.feed(html)
    parts.close()
    return parts


def external_references(html: str) -> list[str]:
    """Everything in the page that would make a browser fetch something."""
    parts = parse(html)
    found = [f"<{tag}>" for tag in parts.tags & _EXTERNAL_TAGS]
    for name, value in parts.attrs:
        if name in ("src", "srcset", "href", "action", "poster", "data") and not value.startswith(
            "#"
        ):
            found.append(f"{name}={value}")
        if re.search(r"https?:|^//|url\(", value):
            found.append(f"{name}={value}")
    for css in parts.css:
        for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", css):
            if not url.startswith("data:"):
                found.append(f"url({url})")
        found.extend(re.findall(r"@import|https?:|//[a-z]", css))
    return found


def text_of(html: str) -> str:
    return " ".join(parse(html).text)
