"""The `fleet check` table: one row per host, then each failed item with its fix."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from controller.check.probe import ITEMS
from controller.check.run import CheckReport
from controller.report.words import plural

_STATUS_STYLE = {"ok": "green", "failed": "red", "unreachable": "magenta"}


def check_table(report: CheckReport) -> Table:
    """host, status, then one cell per item: what was seen, red when it failed."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("host", "status", *ITEMS):
        table.add_column(column, overflow="fold")
    for name, host in report.hosts.items():
        cells = [Text(name), Text(host.status, _STATUS_STYLE.get(host.status, ""))]
        for item in ITEMS:
            found = host.checks.get(item)
            if found is None:
                cells.append(Text("-", "dim"))
            else:
                seen = found.short or found.detail
                cells.append(Text(seen if found.ok else f"✗ {seen}", "" if found.ok else "red"))
        table.add_row(*cells)
    return table


def render_check(console: Console, report: CheckReport) -> None:
    """The table, then `HOST item: what` and `  fix: ...` for everything that failed."""
    console.print(check_table(report))
    failures = 0
    for name, host in report.hosts.items():
        bad = [(item, c) for item, c in host.checks.items() if not c.ok]
        if not bad and host.error:
            console.print(Text(f"{name}: {host.error}", "red"))
            failures += 1
        for item, found in bad:
            failures += 1
            console.print(Text(f"{name} {item}: {found.detail}", "red"))
            if found.fix:
                console.print(Text(f"  fix: {found.fix}"))
    total = len(report.hosts)
    ok = sum(1 for h in report.hosts.values() if h.status == "ok")
    console.print(
        Text(
            f"{ok}/{plural(total, 'host')} ready"
            + (f", {plural(failures, 'problem')}" if failures else "")
        )
    )
