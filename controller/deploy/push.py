"""Push source: send a host's service folders from the controller's repo (DESIGN.md).

Two runner commands over the host's one connection (docs/internals.md, "Push source"):
`source-need` gets the manifest and answers which file contents the host lacks;
`source-receive` gets the manifest again with only those contents, length-prefixed, and
switches R/repo to the new revision. Only services/<svc>/ of the host's own services is
read; R/config/ lives on the host alone and is never read or sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import FleetError, one_line
from controller.transport.connector import CommandResult
from remote.source import ANSWER_MARKER, MANIFEST_VERSION, STREAM_END, link_stays_inside

RunRunner = Callable[[Sequence[str], bytes | None], Awaitable[CommandResult]]


class PushError(FleetError):
    """The push cannot be made (a bad tree, or the host refused it); not a lost link."""


@dataclass(frozen=True)
class LocalManifest:
    """The manifest as sent (its bytes name the revision) and where each content lives."""

    data: bytes
    entries: tuple[dict[str, Any], ...]
    objects: dict[str, Path] = field(default_factory=dict)  # sha256 -> a local file

    def size_of(self, sha: str) -> int:
        return next(int(e["size"]) for e in self.entries if e.get("sha256") == sha)


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(svc_dir: Path, path: Path, rel: str) -> tuple[dict[str, Any], Path | None]:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        inner = path.relative_to(svc_dir).parts
        # Refused, not followed: a link out of the folder would send (or deploy) files the
        # operator never meant for this host.
        if not link_stays_inside(["services", svc_dir.name, *inner], target):
            raise PushError(
                f"{path}: symlink to {target!r} leaves services/{svc_dir.name}/",
                hint="make it a link inside the service folder, or copy the file in",
            )
        return {"path": rel, "type": "symlink", "target": target}, None
    if not stat.S_ISREG(info.st_mode):
        raise PushError(f"{path}: not a file, folder or symlink; cannot push it")
    mode = 0o755 if info.st_mode & 0o111 else 0o644
    sha = _sha256(path)
    entry = {"path": rel, "type": "file", "mode": mode, "sha256": sha, "size": info.st_size}
    return entry, path


def build_manifest(repo: Path, services: Sequence[str]) -> LocalManifest:
    """The manifest of services/<svc>/ for these services only, entries sorted by path."""
    entries: list[dict[str, Any]] = []
    objects: dict[str, Path] = {}
    for svc in services:
        svc_dir = repo / "services" / svc
        if svc_dir.is_symlink():
            raise PushError(f"{svc_dir} is a symlink; a service folder must be a folder")
        if not svc_dir.is_dir():
            raise PushError(
                f"services/{svc}/ is not in {repo}",
                hint="--repo names the folder that holds services/",
            )
        for folder, dirs, files in os.walk(svc_dir):
            dirs.sort()
            here = Path(folder)
            names = sorted(files) + [d for d in dirs if (here / d).is_symlink()]
            for name in names:
                path = here / name
                rel = "/".join(("services", svc, *path.relative_to(svc_dir).parts))
                entry, local = _entry(svc_dir, path, rel)
                entries.append(entry)
                if local is not None:
                    objects[entry["sha256"]] = local
    entries.sort(key=lambda e: str(e["path"]))
    raw = {"version": MANIFEST_VERSION, "services": list(services), "entries": entries}
    data = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    return LocalManifest(data=data, entries=tuple(entries), objects=objects)


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
