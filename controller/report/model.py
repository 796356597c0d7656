"""What the engine returns: per-host results and the fleet report.

`FleetReport.to_json()` is the `--json` shape docs/design.md pins; keep its keys exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from controller.report.problems import Problem


class HostStatus(str, Enum):
    """Where one host ended up (docs/design.md `status`)."""

    COMPLETED = "completed"
    """Every stage ran and the runner reported run_completed."""
    FAILED = "failed"
    """A stage failed, the run was refused (lock held) or the runner could not run."""
    UNREACHABLE = "unreachable"
    """No SSH connection could be made (refused, timeout, auth, host key, DNS)."""
    DISCONNECTED = "disconnected"
    """The link dropped mid-run and did not come back in time; the host goes on alone."""
    RUNNING = "running"
    """A run is still in progress (seen by `fleet status`, or not finished yet)."""
    NOT_STARTED = "not_started"
    """A rolling deploy stopped (its failure budget spent) before this host's wave."""
    ROLLED_BACK = "rolled_back"
    """A stage failed and the runner rolled the host back to its last good release
    (on_failure: rollback): a failure, never completed."""
    NOT_DEPLOYED = "not_deployed"
    """`fleet status`: fleet never deployed this host (no run recorded on it); not completed."""
    PENDING = "pending"
    """`fleet status`: the host's last recorded run did not complete; it still owes that run
    (`fleet resume --pending` picks it)."""


class ServiceState(str, Enum):
    """How far one service of a host got in the deploy stage."""

    COMPLETED = "completed"
    """Deployed (and its last_service marker written) in this run."""
    SKIPPED = "skipped"
    """Already deployed by an earlier run; skipped on resume."""
    FAILED = "failed"
    """Its compose command or health check failed."""
    PENDING = "pending"
    """Not reached."""


@dataclass
class RollbackStep:
    """on_failure: rollback: the run that failed, and the rollback run after it."""

    run_id: str | None = None  # the rollback's
    failed_run: str | None = None
    failed_service: str | None = None
    release: str | None = None  # the release it goes back to

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def recorded(cls, data: dict[str, Any], meta: dict[str, Any] | None) -> RollbackStep | None:
        """From the recorded meta, else from a --json host entry's pinned keys."""
        if meta:
            return cls(**meta)
        if "rolled_back_to" not in data:
            return None
        return cls(failed_service=data.get("failed_service"), release=data.get("rolled_back_to"))


@dataclass
class HostResult:
    """One host's progress while the run goes on, and its outcome at the end.

    Owned by that host's session alone (never shared between hosts).
    """

    name: str
    services: dict[str, ServiceState]
    status: HostStatus = HostStatus.RUNNING
    last_stage: str | None = None
    failed_stage: str | None = None
    last_service: str | None = None
    log: str | None = None
    diagnostics: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    wave: int | None = None  # a rolling deploy's wave (1-based); only then in --json
    attempts: int | None = None  # tries under --until-done; only then in --json
    # Not part of the --json shape: live view, hints, and the recorded run's meta.
    stage: str | None = None
    service: str | None = None
    note: str | None = None
    problem: Problem = Problem.NONE
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # retries and reconnects, for the record
    gaps: list[dict[str, Any]] = field(default_factory=list)  # link lost..back: start, end, cause
    connections: int = 0
    runner_bytes_uploaded: int = 0
    push: dict[str, Any] = field(default_factory=dict)  # source push: rev, files, bytes
    diagnostics_text: str | None = None
    rollback: RollbackStep | None = None  # a failed run rolled back (or trying to be)

    @property
    def failed_service(self) -> str | None:
        """The first service whose deploy or check failed."""
        for svc, state in self.services.items():
            if state is ServiceState.FAILED:
                return svc
        return None

    @property
    def services_done(self) -> int:
        """Services that are deployed, in this run or an earlier one."""
        done = (ServiceState.COMPLETED, ServiceState.SKIPPED)
        return sum(1 for s in self.services.values() if s in done)

    def to_json(self) -> dict[str, Any]:
        """The host's entry of the --json object (docs/design.md), keys exactly as pinned,
        plus `wave` in a rolling deploy."""
        data: dict[str, Any] = {
            "status": self.status.value,
            "last_stage": self.last_stage,
            "failed_stage": self.failed_stage,
            "last_service": self.last_service,
            "services": {svc: state.value for svc, state in self.services.items()},
            "log": self.log,
            "diagnostics": self.diagnostics,
            "error": self.error,
            "duration_s": round(self.duration_s, 2),
        }
        if self.wave is not None:
            data["wave"] = self.wave
        if self.rollback is not None:
            rolled_back = self.status is HostStatus.ROLLED_BACK
            data["failed_service"] = self.rollback.failed_service
            data["rolled_back_to"] = self.rollback.release if rolled_back else None
        if self.attempts is not None:
            data["attempts"] = self.attempts
        return data

    def meta_json(self) -> dict[str, Any]:
        """What the controller records beside the report (not part of --json)."""
        return {
            "problem": self.problem.value,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "gaps": list(self.gaps),
            "connections": self.connections,
            "runner_bytes_uploaded": self.runner_bytes_uploaded,
            "push": dict(self.push),
            "rollback": self.rollback.to_json() if self.rollback else None,
        }

    @classmethod
    def from_json(
        cls, name: str, data: dict[str, Any], meta: dict[str, Any] | None = None
    ) -> HostResult:
        """Rebuild a host's result from a recorded report (and its meta, when present)."""
        meta = meta or {}
        return cls(
            name=name,
            services={svc: ServiceState(s) for svc, s in data.get("services", {}).items()},
            status=HostStatus(data["status"]),
            last_stage=data.get("last_stage"),
            failed_stage=data.get("failed_stage"),
            last_service=data.get("last_service"),
            log=data.get("log"),
            diagnostics=data.get("diagnostics"),
            error=data.get("error"),
            duration_s=float(data.get("duration_s") or 0.0),
            wave=data.get("wave"),
            attempts=data.get("attempts"),
            problem=Problem(meta.get("problem", Problem.NONE.value)),
            warnings=list(meta.get("warnings", [])),
            notes=list(meta.get("notes", [])),
            gaps=list(meta.get("gaps", [])),
            connections=int(meta.get("connections", 0)),
            runner_bytes_uploaded=int(meta.get("runner_bytes_uploaded", 0)),
            push=dict(meta.get("push") or {}),
            rollback=RollbackStep.recorded(data, meta.get("rollback")),
        )


@dataclass
class RolloutSummary:
    """A rolling deploy's settings and outcome: `rollout` in --json (beside the pinned keys)."""

    batch: str | None
    canary: int | None
    max_fail: str | None
    waves: int
    stopped: str | None = None  # why hosts were left not_started; None when none were
    # Hosts that ran (or were to run) without --resume: a continuation keeps that for the
    # ones that never started. Recorded in meta.json only.
    fresh: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "canary": self.canary,
            "max_fail": self.max_fail,
            "waves": self.waves,
            "stopped": self.stopped,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], fresh: list[str] | None = None) -> RolloutSummary:
        return cls(
            batch=data.get("batch"),
            canary=data.get("canary"),
            max_fail=data.get("max_fail"),
            waves=int(data.get("waves") or 1),
            stopped=data.get("stopped"),
            fresh=list(fresh or []),
        )


@dataclass
class FleetReport:
    """Every selected host's result for one run, in inventory order."""

    run_id: str
    hosts: dict[str, HostResult]
    command: str = "deploy"
    inventory_arg: str | None = None  # `-i PATH` as given, for the next commands
    rollout: RolloutSummary | None = None  # only for a rolling deploy
    warnings: list[str] = field(default_factory=list)  # the controller's own (a notification)
    # Hosts that were to start a fresh run (not --resume): one that this run never reached
    # starts fresh again when resumed (report/waves.py continuation). Recorded in meta.json.
    fresh: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        """True when every host completed (exit 0)."""
        return all(h.status is HostStatus.COMPLETED for h in self.hosts.values())

    @property
    def status(self) -> str:
        """The fleet-level status of the --json object."""
        return "completed" if self.completed else "failed"

    def to_json(self) -> dict[str, Any]:
        """The one JSON object `--json` prints (docs/design.md), plus `rollout` in a rolling
        deploy."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "hosts": {name: h.to_json() for name, h in self.hosts.items()},
        }
        if self.rollout is not None:
            data["rollout"] = self.rollout.to_json()
        return data

    def meta_json(self) -> dict[str, Any]:
        """Controller-side extras recorded beside report.json."""
        data: dict[str, Any] = {
            "command": self.command,
            "inventory_arg": self.inventory_arg,
            "hosts": {name: h.meta_json() for name, h in self.hosts.items()},
            "warnings": list(self.warnings),
            "fresh": list(self.fresh),
        }
        if self.rollout is not None:
            data["rollout_fresh"] = list(self.rollout.fresh)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], meta: dict[str, Any] | None = None) -> FleetReport:
        """Rebuild a recorded report."""
        meta = meta or {}
        host_meta = meta.get("hosts", {})
        hosts = {
            name: HostResult.from_json(name, h, host_meta.get(name))
            for name, h in data["hosts"].items()
        }
        return cls(
            run_id=data["run_id"],
            hosts=hosts,
            command=meta.get("command", "deploy"),
            inventory_arg=meta.get("inventory_arg"),
            rollout=(
                RolloutSummary.from_json(data["rollout"], meta.get("rollout_fresh"))
                if isinstance(data.get("rollout"), dict)
                else None
            ),
            warnings=[str(w) for w in meta.get("warnings") or []],
            fresh=[str(n) for n in meta.get("fresh") or meta.get("rollout_fresh") or []],
        )
