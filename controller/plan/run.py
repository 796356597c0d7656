"""`fleet plan` on one host: what a deploy would change there, changing nothing.

The host side is the runner's read-only `preview` command (remote/preview.py); this
module runs it over the host's session (the same connect, upload, retries and causes as
a deploy) with the job a deploy would send.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controller.job.manifest import PushError, build_manifest
from controller.job.spec import JobSettings, job_fields
from controller.plan.report import PlanResult
from controller.report.model import HostResult, HostStatus
from controller.secrets.host import plan_hashes
from controller.session import outcome
from controller.session.channel import answer_json
from controller.session.host import HostSession, Runtime
from controller.transport.connector import CommandResult
from inventory import Host
from remote.protocol import SECRET_HASHES_KEY, Exit


class PlanRun:
    """One host's plan: connect as a deploy does, run `preview`, change nothing."""

    def __init__(self, host: Host, settings: JobSettings, runtime: Runtime) -> None:
        self.host = host
        self.settings = settings
        self.result = PlanResult(name=host.name, services=outcome.new_result(host).services)
        self.session = HostSession(host, runtime, self.result)
        self._secret_hashes: dict[str, str] = {}

    async def run(self) -> HostResult:
        repo, host = Path(self.settings.push_repo or "."), self.host
        identity = self.settings.age_identity
        self._secret_hashes, unreadable = plan_hashes(
            repo, host.name, list(host.services), identity
        )
        await self.session.guarded(self._preview)
        if self.result.preview is not None:
            _unreadable_secrets_are_invalid(self.result.preview, unreadable)
        return self.result

    def _job(self) -> bytes:
        """The run's job; for a push host also the manifest a push would send, so the
        host can say which files it lacks (remote.source.push_preview)."""
        job = job_fields(self.host, self.settings)
        if self._secret_hashes:  # hashes only: `secret changed` without the value
            job[SECRET_HASHES_KEY] = self._secret_hashes
        if self.host.source == "push":
            try:
                manifest = build_manifest(Path(self.settings.push_repo or "."), self.host.services)
            except PushError as err:
                job["push_error"] = str(err)
            else:
                job["push_manifest"] = manifest.data.decode()
        return json.dumps(job).encode()

    async def _preview(self) -> None:
        args = ["preview", "--root", self.host.root, "--plan", "-"]
        job = self._job()

        async def ask() -> CommandResult:
            return await self.session.channel.runner(args, job, json_input=True)

        res = await self.session.retrying(ask)  # preview changes nothing: ask again
        if res.exit_status != Exit.OK:
            outcome.runner_trouble(self.result, res)
            return
        self.result.preview = answer_json(res, "preview")
        self.result.status = HostStatus.COMPLETED


def _unreadable_secrets_are_invalid(preview: dict[str, Any], unreadable: dict[str, str]) -> None:
    """A deploy would fail the host in prepare on such a file: its service is `invalid`,
    with the file and why, beside what the host said of the others."""
    services = preview.setdefault("services", {})
    for svc, why in unreadable.items():
        entry = services.setdefault(svc, {})
        entry["action"] = "invalid"
        entry["reason"] = f"a deploy would fail in prepare: {why}"
