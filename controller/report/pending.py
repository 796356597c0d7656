"""Hosts that still owe a run: their last recorded run did not complete on them.

`fleet resume --pending` resumes exactly these; `fleet status` marks them `pending` with
the run they owe. Read from the recorded runs alone (report/store.py): no host is asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controller.report.model import FleetReport, HostResult, HostStatus


@dataclass(frozen=True)
class Owed:
    """The run a host still owes, and how that run left it."""

    run_id: str
    status: HostStatus


# A rolled-back host is on a known release: resuming continues nothing there (a person
# fixes the service, then deploys), so an unattended `resume --pending` leaves it alone.
_DONE = (HostStatus.COMPLETED, HostStatus.ROLLED_BACK)


def owed_runs(recent: Iterable[FleetReport], names: Sequence[str]) -> dict[str, Owed]:
    """Of these hosts, those whose newest recorded run (runs newest first) did not
    complete on them, in the order given; a host no run recorded owes nothing."""
    unseen = set(names)
    owed: dict[str, Owed] = {}
    for report in recent:
        for name in unseen & report.hosts.keys():
            status = report.hosts[name].status
            if _owes(report.command, status):
                owed[name] = Owed(report.run_id, status)
        unseen -= report.hosts.keys()
        if not unseen:
            break
    return {name: owed[name] for name in names if name in owed}


# What `fleet status` read on a host that may still owe a run; a host whose run is going on,
# or that could not be read, shows what it is doing or why it could not be read.
_SETTLED = (HostStatus.COMPLETED, HostStatus.FAILED, HostStatus.NOT_DEPLOYED)


def _owes(command: str, status: HostStatus) -> bool:
    """A `fleet rollback` is the operator's choice, not the deploy a host owes: only one
    cut while it ran (`disconnected`, the host part way back) is owed, so that resuming
    finishes it; one that failed or never reached the host leaves the host as it was."""
    if command == "rollback":
        return status is HostStatus.DISCONNECTED
    return status not in _DONE


def mark_pending(results: Iterable[HostResult], owed: dict[str, Owed]) -> None:
    """`fleet status`: a host that owes a run reads `pending`, naming it."""
    for result in results:
        debt = owed.get(result.name)
        if debt is None or result.status not in _SETTLED:
            continue
        result.status = HostStatus.PENDING
        result.error = f"owes run {debt.run_id} (it ended {debt.status.value} there)"
