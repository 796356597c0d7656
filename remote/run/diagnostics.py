"""After a failure: what an operator needs to see, in R/logs/deploy/diagnostics_<ts>.txt."""

from __future__ import annotations

import os

from remote.docker import compose
from remote.kit import procs
from remote.run.context import Context
from remote.run.runlog import create_exclusive, file_ts, iso_ts, utc_now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

    from remote.run.runlog import Clock

LOG_LINES = 50
RUN_LOG_LINES = 100
MEMINFO_KEYS = ("MemTotal", "MemFree", "MemAvailable", "SwapTotal", "SwapFree")
# Diagnostics must not hang a failed run for long: each command gets this long at most.
COMMAND_TIMEOUT_S = 30.0


def collect(
    ctx: Context,
    failed_stage: str,
    failed_service: Optional[str],
    error: str,
    clock: Clock = utc_now,
) -> str:
    """Write the diagnostics file and return its path."""
    moment = clock()
    sections = [_header(ctx, moment, failed_stage, failed_service, error)]
    for name in _failed_first(ctx.job.services, failed_service):
        sections += _service_sections(ctx, name)
    sections.append(_section("disk (df -h)", _command_output(["df", "-h"])))
    sections.append(_section("memory (/proc/meminfo)", _meminfo()))
    sections.append(_section("run log (last %d lines)" % RUN_LOG_LINES, _run_log_tail(ctx)))
    text = ctx.scrub("\n".join(sections))
    log_dir = os.path.dirname(ctx.log.path)
    handle, path = create_exclusive(log_dir, "diagnostics_" + file_ts(moment), ".txt")
    with handle:
        handle.write(text.encode("utf-8", "replace"))
        handle.flush()
        os.fsync(handle.fileno())
    return path


def _header(
    ctx: Context,
    moment: float,
    failed_stage: str,
    failed_service: Optional[str],
    error: str,
) -> str:
    lines = [
        "fleet diagnostics",
        "host:           %s" % ctx.job.host,
        "run:            %s" % ctx.job.run_id,
        "collected:      %s" % iso_ts(moment),
        "failed stage:   %s" % failed_stage,
        "failed service: %s" % (failed_service or "-"),
        "error:          %s" % error,
        "run log:        %s" % ctx.log.path,
    ]
    return "\n".join(lines) + "\n"


def _failed_first(services: List[str], failed: Optional[str]) -> List[str]:
    if failed is None or failed not in services:
        return list(services)
    return [failed] + [name for name in services if name != failed]


def _service_sections(ctx: Context, name: str) -> List[str]:
    files = ctx.files(name)
    compose_command = ctx.job.compose_command
    status = _command_output(compose.ps_table_argv(compose_command, name))
    logs = _command_output(compose.logs_argv(compose_command, files, LOG_LINES))
    return [
        _section("containers of %s" % name, status),
        _section("logs of %s (last %d lines per container)" % (name, LOG_LINES), logs),
    ]


def _command_output(argv: List[str]) -> str:
    result = procs.run(argv, COMMAND_TIMEOUT_S)
    output = (result.stdout + result.stderr).rstrip()
    if result.timed_out:
        return output + "\n(timed out after %ss)" % COMMAND_TIMEOUT_S
    if result.returncode != 0:
        return output + "\n(exit status %d)" % result.returncode
    return output or "(no output)"


def _meminfo() -> str:
    try:
        with open("/proc/meminfo") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        return "(cannot read /proc/meminfo: %s)" % exc.strerror
    wanted = [line for line in lines if line.split(":", 1)[0] in MEMINFO_KEYS]
    return "\n".join(wanted)


def _run_log_tail(ctx: Context) -> str:
    try:
        return ctx.log.tail(RUN_LOG_LINES)
    except OSError as exc:
        return "(cannot read the run log: %s)" % exc.strerror


def _section(title: str, body: str) -> str:
    return "==== %s ====\n%s\n" % (title, body.rstrip())
