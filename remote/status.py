"""Where this host stands, read-only: state, lock holder, last summary, saved plan."""

import os
from typing import Any, Dict, Optional

from remote.lock import holder_running
from remote.plan import Plan, PlanError, load_plan, plan_path
from remote.protocol import INTERRUPTED, LOCK_FILE, STATE_DIR
from remote.state import State


def host_status(root: str) -> Dict[str, Any]:
    state = State(os.path.join(root, STATE_DIR))
    summary = state.read_summary()
    holder = holder_running(os.path.join(root, LOCK_FILE))
    plan = _saved_plan(root)
    if summary is not None and summary.get("status") == "running" and holder is None:
        summary = dict(summary, status=INTERRUPTED)
    return {
        "host": _host_name(plan, summary),
        "root": root,
        "current_stage": state.current_stage,
        "completed_stages": state.completed_stages(),
        "last_service": state.last_service,
        "running": _running(holder, summary),
        "last_run": summary,
        "plan": {"run_id": plan.run_id, "services": plan.services} if plan else None,
    }


def _running(
    holder: Optional[Dict[str, Any]], summary: Optional[Dict[str, Any]]
) -> Optional[Dict[str, Any]]:
    if holder is None:
        return None
    same_run = summary is not None and summary.get("run_id") == holder.get("run_id")
    return {
        "run_id": holder.get("run_id"),
        "pid": holder.get("pid"),
        "started": holder.get("started"),
        "log": holder.get("log") or (summary.get("log") if same_run and summary else None),
    }


def _saved_plan(root: str) -> Optional[Plan]:
    try:
        return load_plan(plan_path(root), root)
    except PlanError:
        return None


def _host_name(plan: Optional[Plan], summary: Optional[Dict[str, Any]]) -> str:
    if plan is not None:
        return plan.host
    if summary is not None and isinstance(summary.get("host"), str):
        return str(summary["host"])
    return os.uname().nodename
