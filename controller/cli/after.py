"""What a finished run is told to besides the terminal: its HTML page and one notification.

Both come after the report is recorded; neither changes the run's exit code. A failure
to write the page is the operator's to fix (exit 2 before anything ran is not possible
here, so it is one warning line); a notification that cannot be sent is one warning line,
printed and recorded with the run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.report.model import FleetReport
from controller.report.store import RunRecorder


@dataclass(frozen=True)
class Afterwards:
    """--html FILE, the inventory's notify URLs, --notify URL..., --no-notify."""

    html: Path | None = None
    inventory_urls: Sequence[str] = ()
    added_urls: Sequence[str] = field(default_factory=tuple)
    silenced: bool = False

    @classmethod
    def of(cls, html: Path | None, notify: Sequence[str] | None, no_notify: bool) -> Afterwards:
        """From the command's --html, --notify and --no-notify."""
        return cls(html=html, added_urls=tuple(notify or ()), silenced=no_notify)


def finish(report: FleetReport, recorder: RunRecorder, after: Afterwards, quiet: bool) -> None:
    """Write the page, send the message; warnings go to stderr and into the record."""
    warnings: list[str] = []
    if after.html is not None:
        warnings += write_html(recorder.dir, after.html, quiet)
    warnings += notify(report, after)
    if warnings:
        report.warnings.extend(warnings)
        recorder.save(report)
        for line in warnings:
            sys.stderr.write(f"fleet: warning: {line}\n")


def write_html(run_dir: Path, out: Path, quiet: bool = False) -> list[str]:
    from controller.htmlreport import write_run_html

    try:
        write_run_html(run_dir, out)
    except OSError as err:
        return [f"html: could not write {out}: {err.strerror or err}"]
    if not quiet:
        sys.stderr.write(f"fleet: the run as a page: {out}\n")
    return []


def notify(report: FleetReport, after: Afterwards) -> list[str]:
    from controller.notify.run import notify_run, targets

    urls = targets(after.inventory_urls, after.added_urls, after.silenced)
    if not urls:
        return []
    from controller.report.view import next_command  # Rich (~25 ms): only for a message

    hints = {
        name: hint
        for name, result in report.hosts.items()
        if (hint := next_command(result, report.command, report.inventory_arg))
    }
    # Error lines were masked on the host (its .env values); nothing else is sent.
    return notify_run(urls, report.to_json(), report.command, mask=str, continue_with=hints)


def notify_when_needed(
    found: dict[str, Any], command: str, inventory_urls: Sequence[str], after: Afterwards
) -> None:
    """check and outdated: one message only when a host needs attention (notify_run knows
    when); a failure to send is one warning line on stderr."""
    from controller.notify.run import notify_run, targets

    urls = targets(inventory_urls, after.added_urls, after.silenced)
    for line in notify_run(urls, found, command, mask=str):
        sys.stderr.write(f"fleet: warning: {line}\n")
