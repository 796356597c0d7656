"""The `--json` contract of DESIGN.md, written out for tests (not read from the code)."""

from __future__ import annotations

from typing import Any

HOST_KEYS = {
    "status",
    "last_stage",
    "failed_stage",
    "last_service",
    "services",
    "log",
    "diagnostics",
    "error",
    "duration_s",
}
HOST_STATUSES = {
    "completed",
    "failed",
    "unreachable",
    "disconnected",
    "running",
    "not_started",
    "not_deployed",  # `fleet status` only: fleet never deployed the host
}
SERVICE_STATES = {"completed", "skipped", "failed", "pending"}


def check_shape(report: dict[str, Any], *, a_run: bool = True) -> None:
    """The --json object has exactly DESIGN.md's keys and value types; `fleet status` is
    not a run (a_run=False): its run_id is null."""
    assert set(report) == {"run_id", "status", "hosts"}
    assert report["status"] in ("completed", "failed")
    if a_run:
        assert isinstance(report["run_id"], str) and report["run_id"]
    else:
        assert report["run_id"] is None
    for entry in report["hosts"].values():
        assert set(entry) == HOST_KEYS
        assert entry["status"] in HOST_STATUSES
        assert set(entry["services"].values()) <= SERVICE_STATES
        assert isinstance(entry["duration_s"], float)
        for key in ("failed_stage", "last_service", "diagnostics", "error"):
            assert entry[key] is None or isinstance(entry[key], str)
        if entry["status"] == "completed":
            assert isinstance(entry["log"], str) and isinstance(entry["last_stage"], str)
            assert entry["error"] is None and entry["failed_stage"] is None
        else:
            assert isinstance(entry["error"], str) and "\n" not in entry["error"]
