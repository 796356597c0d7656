"""`fleet plan`: what a deploy would change on each host, changing nothing.

The host side is the runner's read-only `preview` command (remote/preview.py); this
module runs it over the host's one connection (HostRun's connect, upload and error
handling) and shapes the `--json` object DESIGN.md pins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import one_line
from controller.report.model import FleetReport, HostResult, HostStatus, Problem
from controller.session.host import HostRun, RunSettings, Runtime
from controller.transport.connector import LinkLost
from remote.protocol import Exit

PLANNED, UNREACHABLE = "planned", "unreachable"
UNCHANGED = "unchanged"


@dataclass
class PlanResult(HostResult):
    """A host's result with what its runner's `preview` printed (None: not planned)."""

    preview: dict[str, Any] | None = None


class PreviewRun(HostRun):
    """One host's plan: connect as a deploy does, run `preview`, change nothing."""

    def __init__(self, host: Any, settings: RunSettings, runtime: Runtime) -> None:
        super().__init__(host, settings, runtime)
        self.result = PlanResult(name=self.result.name, services=self.result.services)

    async def plan(self) -> HostResult:
        return await self._guarded(self._preview)

    def _preview_plan(self) -> bytes:
        """The run's plan; for a push host also the manifest a push would send, so the
        host can say which files it lacks (remote.preview.push_preview)."""
        if self.host.source != "push":
            return self._plan()
        from controller.deploy.push import PushError, build_manifest

        plan = json.loads(self._plan())
        try:
            manifest = build_manifest(Path(self.settings.push_repo or "."), self.host.services)
        except PushError as err:
            plan["push_error"] = str(err)
        else:
            plan["push_manifest"] = manifest.data.decode()
        return json.dumps(plan).encode()

    async def _preview(self) -> None:
        await self._connect_first()
        args = ["preview", *self._root_args(), "--plan", "-"]
        try:
            res = await self._runner(args, self._preview_plan(), json_input=True)
        except LinkLost as err:
            self._fail(Problem.LINK_LOST, one_line(f"link lost during the plan: {err}"))
            return
        if res.exit_status != Exit.OK:
            self._runner_trouble(res)
            return
        try:
            data = json.loads(res.stdout)
        except ValueError:
            self._fail(Problem.RUNNER_ERROR, "the runner's preview printed no JSON")
            return
        assert isinstance(self.result, PlanResult)
        self.result.preview = data if isinstance(data, dict) else {}
        self.result.status = HostStatus.COMPLETED


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
    """One host's entry of `fleet plan --json` (DESIGN.md; extra keys inside)."""
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
