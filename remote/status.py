"""Where this host stands, read-only: state, lock holder, last summary, saved plan.

Two readers feed one interpretation (`status_from_snapshot`): the runner's `status`
command reads the files itself, and `fleet status` runs SNAPSHOT_SCRIPT over SSH, plain
sh builtins that need no Python on the host and cost a fraction of an interpreter start.
"""

from __future__ import annotations

import os

from remote.kit.jsonio import loads_object
from remote.protocol import INTERRUPTED, PLAN_FILE, STAGES, STATE_DIR
from remote.run.job import Job, JobError, job_path, parse_job
from remote.run.lock import pid_alive
from remote.run.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

SNAPSHOT_FILES = ("current_stage", "last_service", "summary.json", "lock")
SNAPSHOT_HEADER = "--- fleet-snapshot "

# {state} and {plan} are replaced by shell-quoted paths, {files} by SNAPSHOT_FILES.
# Builtins only (no cat, no sed): every process a status starts is paid on every host of
# the fleet at once.
SNAPSHOT_SCRIPT = """\
dump() {{ while IFS= read -r l || [ -n "$l" ]; do printf '%s\\n' "$l"; done < "$1"; }}
cd {state} 2>/dev/null || exit 0
for f in {files}; do
  [ -f "$f" ] && {{ printf '\\n--- fleet-snapshot file %s\\n' "$f"; dump "$f"; }}
done
[ -f {plan} ] && {{ printf '\\n--- fleet-snapshot file plan\\n'; dump {plan}; }}
printf '\\n--- fleet-snapshot markers\\n'
for m in stage_*_complete; do [ -e "$m" ] && printf '%s\\n' "$m"; done
pid=
if [ -f lock ] && read -r lock < lock; then
  pid=${{lock#*\\"pid\\":}}; pid=${{pid# }}; pid=${{pid%%[!0-9]*}}
fi
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  state=
  if [ -r /proc/$pid/stat ] && read -r stat < /proc/$pid/stat; then
    state=${{stat##*) }}; state=${{state%% *}}
  fi
  case "$state" in Z|X) ;; *) printf '\\n--- fleet-snapshot alive\\n' ;; esac
fi
"""


class Snapshot(object):
    """The raw state of a host: file name -> text, the stages marked, holder alive."""

    def __init__(self, files: Dict[str, str], markers: List[str], holder_alive: bool) -> None:
        self.files = files
        self.markers = markers
        self.holder_alive = holder_alive


def snapshot_script(root: str, quote: Any) -> str:
    """SNAPSHOT_SCRIPT for root R; `quote` is shlex.quote, applied once here."""
    return SNAPSHOT_SCRIPT.format(
        state=quote(os.path.join(root, STATE_DIR)),
        plan=quote(os.path.join(root, PLAN_FILE)),
        files=" ".join(SNAPSHOT_FILES),
    )


def parse_snapshot(text: str) -> Snapshot:
    files = {}  # type: Dict[str, List[str]]
    markers = []  # type: List[str]
    alive = False
    current = None  # type: Optional[str]
    for line in text.splitlines():
        if line.startswith(SNAPSHOT_HEADER):
            kind, _, name = line[len(SNAPSHOT_HEADER) :].partition(" ")
            alive = alive or kind == "alive"
            current = name if kind == "file" else None
            if current is not None:
                files[current] = []
        elif current is not None:
            files[current].append(line)
        elif line.startswith("stage_") and line.endswith("_complete"):
            markers.append(line[len("stage_") : -len("_complete")])
    return Snapshot({name: "\n".join(lines) for name, lines in files.items()}, markers, alive)


def read_snapshot(root: str) -> Snapshot:
    """The same snapshot, read by the runner itself."""
    state = State(os.path.join(root, STATE_DIR))
    files = {}
    for name in SNAPSHOT_FILES:
        try:
            with open(os.path.join(state.dir, name), "rb") as handle:
                files[name] = handle.read().decode("utf-8", "replace")
        except OSError:
            pass
    try:
        with open(job_path(root), "rb") as handle:
            files["plan"] = handle.read().decode("utf-8", "replace")
    except OSError:
        pass
    holder = _json_object(files.get("lock"))
    alive = holder is not None and pid_alive(holder.get("pid"))
    return Snapshot(files, state.completed_stages(), alive)


def host_status(root: str) -> Dict[str, Any]:
    return status_from_snapshot(root, read_snapshot(root))


def status_from_snapshot(root: str, snapshot: Snapshot) -> Dict[str, Any]:
    files = snapshot.files
    summary = _json_object(files.get("summary.json"))
    holder = _json_object(files.get("lock")) if snapshot.holder_alive else None
    job = _job(files.get("plan"), root)
    if summary is not None and summary.get("status") == "running" and holder is None:
        summary = dict(summary, status=INTERRUPTED)
    return {
        "host": _host_name(job, summary),
        "root": root,
        "current_stage": _word(files.get("current_stage")),
        "completed_stages": [s for s in STAGES if s in snapshot.markers],
        "last_service": _word(files.get("last_service")),
        "running": _running(holder, summary),
        "last_run": summary,
        "plan": {"run_id": job.run_id, "services": job.services} if job else None,
    }


def _word(text: Optional[str]) -> Optional[str]:
    return text.strip() or None if text is not None else None


def _json_object(text: Optional[str]) -> Optional[Dict[str, Any]]:
    return loads_object(text.encode("utf-8")) if text else None


def _job(text: Optional[str], root: str) -> Optional[Job]:
    if text is None:
        return None
    try:
        return parse_job(text, root)
    except JobError:
        return None


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


def _host_name(job: Optional[Job], summary: Optional[Dict[str, Any]]) -> str:
    if job is not None:
        return job.host
    if summary is not None and isinstance(summary.get("host"), str):
        return str(summary["host"])
    return os.uname().nodename
