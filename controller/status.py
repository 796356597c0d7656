"""`fleet status` on one host: where it stands, read from the host itself with plain sh
(nothing uploaded, no Python needed: the runner's state files, one snapshot)."""

from __future__ import annotations

from controller.errors import one_line
from controller.report.model import HostResult, HostStatus
from controller.report.problems import Problem
from controller.session import outcome
from controller.session.host import HostSession, Runtime
from controller.transport.connector import CommandResult
from controller.transport.shell import status_command
from inventory import Host
from remote.status import parse_snapshot, status_from_snapshot


class StatusRead:
    """One host's status; always returns its HostResult, never raises."""

    def __init__(self, host: Host, runtime: Runtime) -> None:
        self.host = host
        self.session = HostSession(host, runtime)
        self.result = self.session.result

    async def run(self) -> HostResult:
        return await self.session.guarded(self._status)

    async def _status(self) -> None:
        res = await self.session.retrying(self._snapshot)  # a read: ask again after a drop
        if res.exit_status != 0:
            detail = one_line(res.stderr.decode(errors="replace")) or "no message"
            message = f"reading the state failed ({res.exit_status}): {detail}"
            outcome.fail(self.result, Problem.SSH_ERROR, message)
            return
        snapshot = parse_snapshot(res.stdout.decode(errors="replace"))
        outcome.apply_status(self.result, status_from_snapshot(self.host.root, snapshot))
        if self.result.problem is Problem.NEVER_DEPLOYED:
            # Not a failure of any run: there was none (docs/design.md, `not_deployed`).
            self.result.status = HostStatus.NOT_DEPLOYED

    async def _snapshot(self) -> CommandResult:
        return await self.session.channel.sh(status_command(self.host.root), end=True)
