"""A push host's source as the controller has it: the manifest of services/<svc>/ for
the host's services (its bytes name the revision). deploy/push.py sends it; `fleet plan`
shows what a push would send."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import FleetError
from remote.source import MANIFEST_VERSION, link_stays_inside


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
