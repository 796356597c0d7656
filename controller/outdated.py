"""`fleet outdated` on one host: which of its images the registry has newer versions of.

The host side is the runner's read-only `outdated` command (remote/outdated.py), run over
the host's session with the job a deploy would send; it asks the host's own engine, so
nothing is pulled. A host that cannot be asked is data (`unreachable`), never an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller.errors import one_line
from controller.job.spec import JobSettings, job_fields
from controller.report.model import HostStatus
from controller.session.channel import answer_json
from controller.session.host import HostSession, Runtime
from controller.transport.connector import CommandResult
from inventory import Host
from remote.protocol import Exit

if TYPE_CHECKING:
    from rich.console import Console

CHECKED, UNREACHABLE = "checked", "unreachable"


@dataclass
class HostOutdated:
    """One host's images, each current, update or unknown (docs/design.md)."""

    host: str
    status: str = UNREACHABLE
    images: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def current(self) -> bool:
        return self.status == CHECKED and all(i.get("state") == "current" for i in self.images)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "images": self.images, "error": self.error}


def outdated_json(found: Mapping[str, HostOutdated]) -> dict[str, Any]:
    return {"hosts": {name: host.to_json() for name, host in found.items()}}


def all_current(found: Mapping[str, HostOutdated]) -> bool:
    return all(host.current for host in found.values())


async def check_outdated(host: Host, runtime: Runtime, settings: JobSettings) -> HostOutdated:
    """Ask the host's runner; whatever happened is in the returned HostOutdated."""
    session = HostSession(host, runtime)
    found = HostOutdated(host=host.name)
    args = ["outdated", "--root", host.root, "--plan", "-"]
    job = json.dumps(job_fields(host, settings)).encode()

    async def ask() -> CommandResult:
        return await session.channel.runner(args, job, json_input=True)

    async def body() -> None:
        res = await session.retrying(ask)  # it changes nothing: ask again after a drop
        if res.exit_status != Exit.OK:
            detail = one_line(res.stderr.decode(errors="replace")) or "no message"
            found.error = f"the runner's outdated failed ({res.exit_status}): {detail}"
            return
        images = answer_json(res, "outdated").get("images")
        found.images = [i for i in images or [] if isinstance(i, dict)]
        found.status = CHECKED

    result = await session.guarded(body)
    if found.status != CHECKED and found.error is None:
        word = "" if result.status is HostStatus.UNREACHABLE else f"{result.status.value}: "
        found.error = f"{word}{result.error or 'no answer'}"
    return found


def render_outdated(console: Console, found: Mapping[str, HostOutdated]) -> None:
    """One table of every host's images; unreachable hosts as lines below it."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="images and their registries (nothing pulled)")
    for column in ("host", "service", "image", "state", "host has", "registry has", "newer"):
        table.add_column(column)
    styles = {"current": "green", "update": "yellow", "unknown": "red"}
    for name, host in found.items():
        for item in host.images:
            state = str(item.get("state"))
            why = f" ({item['reason']})" if item.get("reason") else ""
            cells = [name, str(item.get("service")), str(item.get("image"))]
            digests = [_short(item.get("local_digest")), _short(item.get("registry_digest"))]
            newer = ", ".join(item.get("newer") or []) + why
            shown = f"[{styles.get(state, 'red')}]{escape(state)}[/]"
            table.add_row(*map(escape, cells), shown, *digests, escape(newer))
    console.print(table)
    for name, host in found.items():
        if host.status != CHECKED:
            console.print(f"{name}: unreachable: {host.error}", markup=False)
    total = sum(1 for h in found.values() for i in h.images if i.get("state") != "current")
    console.print("all current" if all_current(found) else f"not current: {total} images")


def _short(digest: object) -> str:
    return str(digest)[7:19] if isinstance(digest, str) and digest.startswith("sha256:") else "-"
