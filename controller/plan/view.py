"""The `fleet plan` tables (Rich): one per host, then one line for the fleet."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from controller.plan.report import PLANNED, host_json
from controller.report.model import FleetReport
from controller.report.words import plural

ACTION_STYLE = {"create": "green", "recreate": "yellow", "unchanged": "dim", "invalid": "red"}


def host_table(name: str, entry: dict[str, Any]) -> Table:
    table = Table(title=f"{name}: {_git_line(entry.get('git') or {})}", title_justify="left")
    for column in ("service", "action", "images to pull", "registry digest", "why"):
        table.add_column(column, overflow="fold")
    for svc, plan in entry["services"].items():
        action = str(plan.get("action"))
        why = plan.get("reason") or ""
        if plan.get("orphans"):
            why = f"{why}; orphans removed: {', '.join(plan['orphans'])}".lstrip("; ")
        images = [f"{image} ({reason})" for image, reason in plan.get("image_reasons", {}).items()]
        style = Text(action, style=ACTION_STYLE.get(action, ""))
        table.add_row(svc, style, "\n".join(images), digest_lines(plan), why)
    return table


def digest_lines(plan: dict[str, Any]) -> str:
    """Per image, whether a pull under the host's policy would bring a new digest, or why
    the registry was not asked (named per image only where the service has several)."""
    entries = plan.get("image_digests") or {}
    lines = [digest_word(entry) for entry in entries.values()]
    if len(entries) > 1:
        lines = [f"{image}: {line}" for image, line in zip(entries, lines, strict=True)]
    return "\n".join(lines)


def digest_word(entry: dict[str, Any]) -> str:
    state = entry.get("state")
    if not entry.get("asked"):
        return f"not asked: {entry.get('why')}"
    if state == "update":
        return f"a new digest ({str(entry.get('registry_digest'))[:19]})"
    if state == "current":
        return "no new digest"
    return f"unknown: {entry.get('reason')}"


def _git_line(git: dict[str, Any]) -> str:
    lines = [str(git.get("message") or git.get("state") or "")]
    for commit in git.get("commits") or []:
        lines.append(f"  {commit.get('sha')} {commit.get('subject')}")
    return "\n".join(lines)


def render_plan(console: Console, report: FleetReport) -> None:
    changing = 0
    for name, result in report.hosts.items():
        entry = host_json(result)
        if entry["status"] != PLANNED:
            console.print(Text(f"{name}: unreachable: {entry['error']}", style="red"))
            changing += 1
            continue
        console.print(host_table(name, entry))
        push = entry.get("push")
        if push is not None:
            console.print(f"  push: {push.get('note') or push.get('files')}")
        if entry.get("running"):
            console.print(f"  a run is going on: {entry['running'].get('run_id')}")
        changing += bool(entry["changes"])
    total = len(report.hosts)
    console.print(
        f"{total - changing} of {plural(total, 'host')} would not change"
        + (f"; {changing} would change or could not be planned" if changing else "")
    )
