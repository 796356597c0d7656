"""Push source: send a host's service folders from the controller's repo (docs/design.md).

Two runner commands over the host's one connection (docs/internals.md, "Push source"):
`source-need` gets the manifest and answers which file contents the host lacks;
`source-receive` gets the manifest again with only those contents, length-prefixed, and
switches R/repo to the new revision. Only services/<svc>/ of the host's own services is
read; R/config/ lives on the host alone and is never read or sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import one_line
from controller.job.manifest import LocalManifest, PushError, build_manifest
from controller.transport.connector import CommandResult
from remote.source import ANSWER_MARKER, STREAM_END

RunRunner = Callable[[Sequence[str], bytes | None], Awaitable[CommandResult]]


@dataclass
class PushOutcome:
    """What one push did: the revision, what travelled, whether R/repo moved."""

    rev: str
    files_sent: int = 0
    bytes_sent: int = 0  # file contents only: 0 for an unchanged tree
    payload_bytes: int = 0  # all that the push wrote to stdin: manifests, headers, contents
    switched: bool = False
    moved_aside: str | None = None

    def meta(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "files_sent": self.files_sent,
            "bytes_sent": self.bytes_sent,
            "switched": self.switched,
            "payload_bytes": self.payload_bytes,
        }


def parse_answer(res: CommandResult, what: str) -> dict[str, Any]:
    """The runner's marked answer line; whatever a login banner printed is ignored."""
    if res.exit_status != 0:
        detail = one_line(res.stderr.decode(errors="replace")) or f"exit {res.exit_status}"
        raise PushError(f"push {what} failed: {detail}")
    for line in reversed(res.stdout.decode(errors="replace").splitlines()):
        if line.startswith(ANSWER_MARKER):
            answer = json.loads(line[len(ANSWER_MARKER) :])
            if isinstance(answer, dict):
                return answer
    raise PushError(f"push {what}: the host gave no answer line")


def stream(manifest: LocalManifest, missing: Sequence[str]) -> bytes:
    """The source-receive stream; smallest contents first, so a cut keeps the most."""
    parts = [b"%d\n" % len(manifest.data), manifest.data]
    for sha in sorted(missing, key=lambda h: (manifest.size_of(h), h)):
        data = manifest.objects[sha].read_bytes()
        if hashlib.sha256(data).hexdigest() != sha:
            raise PushError(f"{manifest.objects[sha]} changed while pushing; run again")
        parts += [f"{sha} {len(data)}\n".encode(), data]
    parts.append(STREAM_END)
    return b"".join(parts)


async def push_source(
    repo: Path, services: Sequence[str], args: Sequence[str], run: RunRunner
) -> PushOutcome:
    """Send what the host lacks and switch it to the revision; LinkLost passes through."""
    manifest = build_manifest(repo, services)
    need = parse_answer(await run(["source-need", *args], manifest.data), "source-need")
    missing = [str(h) for h in need.get("missing", [])]
    unknown = set(missing) - set(manifest.objects)
    if unknown:
        raise PushError(f"push: the host asks for contents not in the manifest: {sorted(unknown)}")
    outcome = PushOutcome(rev=str(need.get("rev")), payload_bytes=len(manifest.data))
    if need.get("current") and not missing:
        return outcome
    body = stream(manifest, missing)
    done = parse_answer(await run(["source-receive", *args], body), "source-receive")
    outcome.files_sent = len(missing)
    outcome.bytes_sent = sum(manifest.size_of(h) for h in missing)
    outcome.payload_bytes += len(body)
    outcome.switched = not need.get("current")
    outcome.moved_aside = done.get("moved_aside")
    return outcome
