"""`fleet plan --json`: one host's plan as the object docs/design.md pins, whether
anything would change (the exit code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.report.model import FleetReport, HostResult, HostStatus

PLANNED, UNREACHABLE = "planned", "unreachable"
UNCHANGED = "unchanged"


@dataclass
class PlanResult(HostResult):
    """A host's result with what its runner's `preview` printed (None: not planned)."""

    preview: dict[str, Any] | None = None


def would_change(preview: dict[str, Any]) -> bool:
    """True when a deploy would change something on the host (or could not be planned)."""
    git = preview.get("git") or {}
    if git.get("commits"):
        return True
    push = preview.get("push") or {}
    if push.get("files") or push.get("current") is False:
        return True
    for service in (preview.get("services") or {}).values():
        if service.get("action") != UNCHANGED:
            return True
        if service.get("images") or service.get("orphans") or service.get("stopped"):
            return True
    return False


def host_json(result: HostResult) -> dict[str, Any]:
    """One host's entry of `fleet plan --json` (docs/design.md; extra keys inside)."""
    preview = result.preview if isinstance(result, PlanResult) else None
    if preview is None or result.status is not HostStatus.COMPLETED:
        # A host that could not be planned (no SSH, no python3, a lost link): its plan
        # is unknown, which is what `unreachable` tells a script.
        return {"status": UNREACHABLE, "git": None, "services": {}, "error": result.error}
    entry: dict[str, Any] = {
        "status": PLANNED,
        "git": preview.get("git"),
        "services": preview.get("services") or {},
        "error": None,
        "changes": would_change(preview),
        "running": preview.get("running"),
    }
    if "push" in preview:
        entry["push"] = preview["push"]
    return entry


def plan_json(report: FleetReport) -> dict[str, Any]:
    return {"hosts": {name: host_json(result) for name, result in report.hosts.items()}}


def anything_changes(report: FleetReport) -> bool:
    """Exit 1 unless every host was planned and nothing would change on any."""
    for entry in plan_json(report)["hosts"].values():
        if entry["status"] != PLANNED or entry["changes"]:
            return True
    return False
