"""on_failure: rollback. After a failed validate, deploy or verify, the process that ran
the deploy rolls the host back to its last good release (remote/run/releases.py) as a
run of kind rollback of its own, in the same log, so that it happens with the
controller's link gone too. The failed run's run_failed names the rollback
(`rollback_run`); state/deploy/failed_run.json keeps the failed run until a fresh run
clears the state, so that the rollback's summary (and a resume after it) says both what
failed and what runs now: status `rolled_back`, or `failed` with both causes."""

from __future__ import annotations

import os

from remote.kit.atomic import write_json
from remote.kit.jsonio import read_object
from remote.protocol import ROLLBACK_SUFFIX, ROLLED_BACK
from remote.run import releases

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

    from remote.run.context import Context
    from remote.run.job import Job
    from remote.run.state import State

ROLLED_BACK_STAGES = ("validate", "deploy", "verify")
FAILED_RUN_NAME = "failed_run.json"


def wanted(ctx: Context, stage: str) -> bool:
    """on_failure is rollback, the stage is one a rollback mends, and this run is not
    itself a rollback."""
    return ctx.job.on_failure == "rollback" and not ctx.rollback and stage in ROLLED_BACK_STAGES


def describe(stage: str, service: Optional[str], message: str) -> str:
    """`verify failed for media (unhealthy after 60s)`."""
    where = " for %s" % service if service else ""
    return "%s failed%s (%s)" % (stage, where, message)


def last_good(root: str) -> Optional[str]:
    """The release to go back to: last_good, when its record can be read."""
    good = releases.last_good(root)
    return good if good and releases.read_release(root, good) is not None else None


def rollback_job(ctx: Context, target: str, failed: Dict[str, Any]) -> Job:
    """The rollback's job: the failed one's services and settings, its own run id;
    `failed`: the failed run's stage, service, error and diagnostics."""
    import copy  # only here: a run that does not fail never loads it (and weakref with it)

    failed = dict(failed, run_id=ctx.job.run_id)
    job = copy.copy(ctx.job)
    job.run_id = ctx.job.run_id + ROLLBACK_SUFFIX
    job.kind = "rollback"
    job.raw = dict(
        ctx.job.raw, run_id=job.run_id, kind="rollback", rollback_to=target, failed_run=failed
    )
    return job


def remember(ctx: Context) -> None:
    """A fresh rollback of a failed run, once the state is set up: keep that run."""
    failed = ctx.job.raw.get("failed_run")
    if isinstance(failed, dict):
        record = dict(failed, target=releases.rollback_target(ctx))
        write_json(os.path.join(ctx.state.dir, FAILED_RUN_NAME), record)


def failed_run(state: State) -> Optional[Dict[str, Any]]:
    return read_object(os.path.join(state.dir, FAILED_RUN_NAME))


def started_fields(job: Job) -> Dict[str, Any]:
    """run_started of a rollback names the failed run and the release it goes back to."""
    failed = job.raw.get("failed_run")
    if not isinstance(failed, dict):
        return {}
    return {"failed_run": failed.get("run_id"), "release": job.raw.get("rollback_to")}


def amend(summary: Dict[str, Any], state: State) -> None:
    """A rollback of a failed run: the summary is the host's, both steps in one. Completed
    is `rolled_back`; failed says both causes; the failed stage and service are the
    failed run's."""
    record = failed_run(state)
    if record is None:
        return
    target = record.get("target")
    summary["failed_run"] = record.get("run_id")
    summary["failed_stage"] = record.get("stage")
    summary["failed_service"] = record.get("service")
    summary["diagnostics"] = summary["diagnostics"] or record.get("diagnostics")
    summary["rolled_back_to"] = None
    if summary["status"] == "completed":
        summary["status"] = ROLLED_BACK
        summary["rolled_back_to"] = target
        summary["error"] = "%s; rolled back to release %s" % (record.get("error"), target)
    elif summary["status"] == "failed":
        summary["error"] = "%s; the rollback to release %s failed too: %s" % (
            record.get("error"),
            target,
            summary["error"],
        )


def end_fields(summary: Dict[str, Any], message: Optional[str]) -> Dict[str, Any]:
    """The extra keys of a rollback's terminal event; `message` is set when a resume
    found the rollback done (it continues nothing, and says so)."""
    if "failed_run" not in summary:
        return {}
    fields = {"failed_run": summary["failed_run"], "release": summary["rolled_back_to"]}
    if summary["status"] == ROLLED_BACK:
        text = summary["error"]
        if message is not None:
            text += "; nothing to resume: the host runs that release (a new deploy starts fresh)"
        fields.update(
            status=ROLLED_BACK,
            stage=summary["failed_stage"],
            service=summary["failed_service"],
            message=text,
        )
    return fields
