"""deploy, resume and rollback of one host: start (or re-attach to) its run, follow it,
conclude, fetch the diagnostics of a failure. Composes the session layer; the runner
does the stages on the host (remote/)."""

from __future__ import annotations

import json
from pathlib import Path

from controller.errors import one_line
from controller.job.spec import JobSettings, job_fields
from controller.report.model import HostResult, HostStatus
from controller.report.problems import Problem
from controller.secrets.host import HostSecrets, host_secrets
from controller.secrets.keys import SecretError
from controller.session import outcome
from controller.session.host import HostSession, Runtime
from controller.transport.connector import LinkLost
from inventory import Host
from remote.protocol import SECRETS_KEY


class DeployRun:
    """One host's deploy (resume, rollback); always returns its HostResult, never raises."""

    def __init__(self, host: Host, settings: JobSettings, runtime: Runtime) -> None:
        self.host = host
        self.settings = settings
        self.session = HostSession(host, runtime)
        self.result = self.session.result
        self.follower = self.session.follower(settings.run_id)
        self._resume = settings.resume  # off when a push brought a new revision
        self._secrets = HostSecrets()

    async def run(self) -> HostResult:
        # Decrypted before the host is contacted: a file that cannot be fails this host
        # in prepare with nothing changed on it.
        try:
            self._secrets = self._host_secrets()
        except SecretError as err:
            problem = Problem.SECRET_UNREADABLE
            return await self.session.failed_before_contact(problem, str(err), "prepare")
        return await self.session.guarded(self._deploy)

    def _host_secrets(self) -> HostSecrets:
        """A rollback runs the .env its host has (offline, by design): no secrets then."""
        if self.settings.rollback:
            return HostSecrets()
        repo, host = Path(self.settings.push_repo or "."), self.host
        return host_secrets(repo, host.name, list(host.services), self.settings.age_identity)

    async def _deploy(self) -> None:
        attach = self.follower.attach_running
        if self.settings.resume and await self.session.retrying(attach):
            res = await self.follower.follow_until_done()
        else:
            if self._pushes() and not await self._push():
                return
            job, private = self._job(), bool(self._secrets)
            res = await self.follower.start_and_follow(self._start_args(), job, private=private)
        outcome.conclude(self.result, res)
        failed = (HostStatus.FAILED, HostStatus.ROLLED_BACK)
        if self.result.status in failed and self.result.diagnostics:
            await self.session.fetch_diagnostics(self.result.diagnostics)

    def _start_args(self) -> list[str]:
        args = ["start", "--root", self.host.root]
        if self._resume:
            args.append("--resume")
        return [*args, "--plan", "-"]

    def _job(self) -> bytes:
        """The job; with secrets, their text rides in it (remote/run/secrets.py)."""
        fields = job_fields(self.host, self.settings)
        if self._secrets:
            fields[SECRETS_KEY] = self._secrets.texts
        return json.dumps(fields).encode()

    def _pushes(self) -> bool:
        """A push host gets the controller's tree, except in a rollback (offline, by design)."""
        return self.host.source == "push" and not self.settings.rollback

    async def _push(self) -> bool:
        """source: push: send the host's service folders before the run (deploy/push.py).
        False when the host failed; a link lost mid-push leaves the host on the revision
        it has, which deploys (with a warning), as a failed git pull would."""
        from controller.deploy.push import push_source
        from controller.job.manifest import PushError

        self.session.note("pushing services")
        repo = Path(self.settings.push_repo or ".")
        args = ["--root", self.host.root, "--repo", self.host.repo]
        try:
            pushed = await push_source(repo, self.host.services, args, self.session.channel.runner)
        except PushError as err:
            outcome.fail(self.result, Problem.PUSH_FAILED, one_line(str(err)))
            return False
        except LinkLost as err:
            await self.follower.reconnect(f"link lost while pushing: {err}")
            self.result.warnings.append(
                f"push cut by a lost link ({err}): deploying the revision already on the "
                f"host; `fleet resume {self.host.name}` sends the rest"
            )
            return True
        self.result.push = pushed.meta()
        if pushed.moved_aside:
            self.result.warnings.append(
                f"push: the old repo folder was moved to {pushed.moved_aside}"
            )
        # A new revision is not what the markers were written for: run it fresh.
        self._resume = self._resume and not pushed.switched
        self.session.note(None)
        return True
