"""The job a run sends the runner (`start --plan -`, `preview --plan -`): what to deploy
on this host and how. Below the features: deploy sends it, `fleet plan` previews it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller.options import EngineOptions
from inventory import Host
from remote.protocol import PLAN_VERSION


@dataclass(frozen=True)
class JobSettings:
    """How hosts are run; the same for every host of one fleet run."""

    run_id: str
    resume: bool = False
    timeouts: dict[str, int] = field(default_factory=dict)
    rollback: bool = False
    rollback_to: str | None = None
    push_repo: str | None = None  # source: push: the local repo holding services/
    pull: str | None = None  # over every host's inventory `pull` for this run
    age_identity: str | None = None  # secrets/: the identity file given (else the default chain)
    on_failure: str | None = None  # over every host's inventory `on_failure` for this run

    @classmethod
    def of(cls, options: EngineOptions, run_id: str) -> JobSettings:
        return cls(
            run_id=run_id,
            resume=options.resume,
            timeouts=dict(options.timeouts),
            rollback=options.rollback,
            rollback_to=options.rollback_to,
            push_repo=options.push_repo,
            pull=options.pull,
            age_identity=options.age_identity,
            on_failure=options.on_failure,
        )


def job_fields(host: Host, settings: JobSettings) -> dict[str, Any]:
    """The job as a JSON object (the runner's protocol, remote/protocol.py)."""
    job: dict[str, Any] = {
        "version": PLAN_VERSION,
        "host": host.name,
        "run_id": settings.run_id,
        "root": host.root,
        "repo": host.repo,
        "services": list(host.services),
        "compose_command": list(host.compose_command),
        "pull": settings.pull or host.pull,
        "source": host.source,
        "kind": "resume" if settings.resume else "deploy",
        "become": host.become,
        "on_failure": settings.on_failure or host.on_failure,
    }
    if settings.timeouts:
        job["timeouts"] = dict(settings.timeouts)
    if settings.rollback:
        job["kind"] = "rollback"
        if settings.rollback_to:
            job["rollback_to"] = settings.rollback_to
    return job
