"""`fleet releases HOST`: a host's release records, read with one read-only sh command.

No runner and no Python on the host: sh prints last_good and every record, one per line
(records are JSON, so a newline inside one is always escaped and tr can flatten it).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller.errors import one_line
from controller.options import EngineOptions
from controller.report.model import HostStatus
from controller.session.host import HostSession, runtime_for
from controller.transport.connector import CommandResult
from controller.transport.shell import ShellLine, argv_line
from inventory import Host

if TYPE_CHECKING:
    from rich.console import Console

# $1 is the host root; names below it are the runner's (remote/releases.py).
RELEASES_SCRIPT = (
    'd="$1/state/deploy"; printf "last_good %s\\n" "$(cat "$d/last_good" 2>/dev/null)"; '
    'for f in "$d"/releases/*.json; do [ -f "$f" ] || continue; '
    'printf "release "; tr "\\n" " " < "$f"; printf "\\n"; done'
)


@dataclass
class HostReleases:
    """One host's releases, newest first, and which one is current (last_good)."""

    host: str
    last_good: str | None = None
    releases: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "last_good": self.last_good,
            "error": self.error,
            "releases": [
                dict(summarise(r), current=r.get("run_id") == self.last_good) for r in self.releases
            ],
        }


def releases_command(root: str) -> ShellLine:
    return argv_line(["sh", "-c", RELEASES_SCRIPT, "sh", root])


def parse_releases(host: str, text: str) -> HostReleases:
    found = HostReleases(host=host)
    for line in text.splitlines():
        word, _, rest = line.partition(" ")
        if word == "last_good":
            found.last_good = rest.strip() or None
        elif word == "release":
            try:
                record = json.loads(rest)
            except ValueError:
                continue  # a record being written right now; the next read has it whole
            if isinstance(record, dict):
                found.releases.append(record)
    found.releases.sort(key=lambda r: str(r.get("run_id")), reverse=True)
    return found


def summarise(record: dict[str, Any]) -> dict[str, Any]:
    """What `fleet releases` shows of a record: no config hashes, one line of images."""
    revision = record.get("revision") or {}
    services = record.get("services") or {}
    return {
        "run_id": record.get("run_id"),
        "finished": record.get("finished"),
        "kind": record.get("kind"),
        "revision": _revision_text(revision),
        "rollback_of": record.get("rollback_of"),
        "services": {
            name: {svc: str(info.get("image", "")) for svc, info in (images or {}).items()}
            for name, images in services.items()
        },
    }


def _revision_text(revision: dict[str, Any]) -> str | None:
    if not revision.get("id"):
        return None
    return f"{revision.get('source')}:{revision.get('id')}"


async def fetch_releases(host: Host, options: EngineOptions) -> HostReleases:
    """Read the host's releases; a host that cannot be read is data, not an exception."""
    session = HostSession(host, runtime_for(options))
    found: list[HostReleases] = []

    async def read() -> CommandResult:
        return await session.channel.sh(releases_command(host.root), end=True)

    async def body() -> None:
        res = await session.retrying(read)  # a read: ask again after a drop
        if res.exit_status != 0:
            detail = one_line(res.stderr.decode(errors="replace")) or "no message"
            found.append(HostReleases(host=host.name, error=f"reading releases failed: {detail}"))
        else:
            found.append(parse_releases(host.name, res.stdout.decode(errors="replace")))

    result = await session.guarded(body)
    if found:
        return found[0]
    if result.status is HostStatus.UNREACHABLE:
        return HostReleases(host=host.name, error=f"unreachable: {result.error}")
    return HostReleases(host=host.name, error=f"{result.status.value}: {result.error}")


def fetch(host: Host, options: EngineOptions) -> HostReleases:
    return asyncio.run(fetch_releases(host, options))


def render_releases(console: Console, found: HostReleases) -> None:
    from rich.table import Table

    if found.error:
        console.print(f"{found.host}: {found.error}", markup=False)
        return
    if not found.releases:
        console.print(f"{found.host}: no releases (one is recorded when a run completes)")
        return
    table = Table(title=f"releases of {found.host} (newest first)")
    for column in ("", "run id", "finished", "kind", "revision", "services"):
        table.add_column(column)
    for record in found.releases:
        row = summarise(record)
        images = ", ".join(
            f"{name}: {' '.join(i[7:19] if i.startswith('sha256:') else i for i in imgs.values())}"
            for name, imgs in row["services"].items()
        )
        mark = "current" if row["run_id"] == found.last_good else ""
        kind = row["kind"] + (f" of {row['rollback_of']}" if row["rollback_of"] else "")
        table.add_row(
            mark, row["run_id"], row["finished"] or "", kind, row["revision"] or "-", images
        )
    console.print(table)
