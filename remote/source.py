"""Receiving a pushed source (`source: push`): objects, revisions and the R/repo link.

The controller sends a manifest of the host's service folders (docs/internals.md, "Push
source"); `source-need` answers which file contents the host lacks, `source-receive`
takes those in one length-prefixed stream, stores each under R/.fleet/objects/<sha256>
once its hash checks, builds R/.fleet/revisions/<rev>/ and then points R/repo at it with
one rename. A stream cut anywhere before its END line changes nothing but the objects
that arrived whole, so the next push sends only the rest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time

from remote.kit.atomic import ensure_dir
from remote.kit.jsonio import dumps, loads
from remote.kit.words import plural
from remote.protocol import FLEET_DIR, LOCK_FILE, STATE_DIR
from remote.run.job import is_service_name
from remote.run.revisions import current_revision, revisions_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, Dict, List, Optional, Set

OBJECTS_DIR = FLEET_DIR + "/objects"
MANIFEST_NAME = "manifest.json"
# The line the controller looks for in the answer: anything a login shell prints before
# it (a banner) is not mistaken for it.
ANSWER_MARKER = "FLEET-SOURCE "
STREAM_END = b"END\n"
KEEP_REVISIONS = 10
MANIFEST_VERSION = 1
HEX = frozenset("0123456789abcdef")
CHUNK = 1 << 20


class SourceError(Exception):
    """The manifest or the stream is not one the runner accepts; nothing was switched."""


class Manifest(object):
    """A checked manifest: its revision name, services and entries (dicts as sent)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.rev = revision_name(data)
        try:
            raw = loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError("the manifest is not valid JSON: %s" % exc) from None
        if not isinstance(raw, dict) or raw.get("version") != MANIFEST_VERSION:
            raise SourceError("the manifest is not version %d" % MANIFEST_VERSION)
        services = raw.get("services")
        if not isinstance(services, list) or not all(
            isinstance(s, str) and is_service_name(s) for s in services
        ):
            raise SourceError("the manifest's services are not service names")
        self.services = list(services)  # type: List[str]
        entries = raw.get("entries")
        if not isinstance(entries, list):
            raise SourceError("the manifest has no entries list")
        self.entries = [check_entry(e, self.services) for e in entries]  # type: List[Dict[str, Any]]

    def hashes(self) -> Set[str]:
        return set(e["sha256"] for e in self.entries if e["type"] == "file")


def revision_name(manifest: bytes) -> str:
    """A revision is named by its manifest: the first 16 hex of the manifest's sha256."""
    return hashlib.sha256(manifest).hexdigest()[:16]


def is_sha256(text: Any) -> bool:
    return isinstance(text, str) and len(text) == 64 and all(c in HEX for c in text)


def check_entry(entry: Any, services: List[str]) -> Dict[str, Any]:
    """One entry, or SourceError: a path inside services/<svc>/ of a listed service, a
    file with its hash, or a symlink whose target stays in that service's folder."""
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise SourceError("a manifest entry has no path")
    path = entry["path"]
    parts = path.split("/")
    if (
        len(parts) < 3
        or parts[0] != "services"
        or parts[1] not in services
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise SourceError("manifest path %r is not inside services/<svc>/" % path)
    kind = entry.get("type")
    if kind == "file":
        if not is_sha256(entry.get("sha256")) or not isinstance(entry.get("size"), int):
            raise SourceError("manifest file %r has no sha256 and size" % path)
        if entry.get("mode") not in (0o644, 0o755):
            raise SourceError("manifest file %r: mode must be 0644 or 0755" % path)
    elif kind == "symlink":
        target = entry.get("target")
        if not isinstance(target, str) or not link_stays_inside(parts, target):
            raise SourceError("manifest symlink %r points outside its service folder" % path)
    else:
        raise SourceError("manifest entry %r: type must be file or symlink" % path)
    return entry


def link_stays_inside(parts: List[str], target: str) -> bool:
    """Does a link at services/<svc>/<...parts> with this target resolve inside
    services/<svc>/ (by its words alone, as the controller decided it)?"""
    if not target or target.startswith("/"):
        return False
    depth = len(parts) - 3  # folders below services/<svc>/ that hold the link
    descended = False
    for word in target.split("/"):
        if word == "..":
            # `..` only before any name: after one it would climb out of whatever that
            # name is, and a name may be another link (`deep/link/..`).
            depth -= 1
            if depth < 0 or descended:
                return False
        elif word not in ("", "."):
            depth += 1
            descended = True
    return True


# --- the two commands ----------------------------------------------------------------


def need(root: str, repo: str, manifest: bytes) -> Dict[str, Any]:
    """The answer to `source-need`: the revision, whether R/repo is it, what is missing."""
    checked = Manifest(manifest)
    objects = os.path.join(root, OBJECTS_DIR)
    missing = sorted(h for h in checked.hashes() if not os.path.isfile(os.path.join(objects, h)))
    return {
        "rev": checked.rev,
        "current": current_revision(root, repo) == checked.rev,
        "missing": missing,
    }


def receive(root: str, repo: str, stream: IO[bytes]) -> Dict[str, Any]:
    """`source-receive`: store the objects, build the revision, switch R/repo to it."""
    manifest = Manifest(_read_exact(stream, _read_length(stream), "the manifest"))
    objects = os.path.join(root, OBJECTS_DIR)
    ensure_dir(objects)
    received = 0
    while True:
        header = stream.readline(200)
        if header == STREAM_END:
            break
        received += _receive_object(objects, header, stream)
    missing = [h for h in manifest.hashes() if not os.path.isfile(os.path.join(objects, h))]
    if missing:
        raise SourceError(
            "%s of revision %s still missing" % (plural(len(missing), "object"), manifest.rev)
        )
    final = build_revision(root, manifest)
    os.utime(final)  # pruning goes by when a revision was last pushed
    refuse_if_running(root)
    moved = switch(root, repo, manifest.rev)
    prune(root, manifest.rev)
    return {"rev": manifest.rev, "received": received, "moved_aside": moved}


def _read_length(stream: IO[bytes]) -> int:
    line = stream.readline(32)
    if not line.endswith(b"\n") or not line[:-1].isdigit():
        raise SourceError("the stream ended before its manifest")
    return int(line[:-1])


def _read_exact(stream: IO[bytes], size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise SourceError("the stream ended inside %s (link lost?)" % what)
    return data


def _receive_object(objects: str, header: bytes, stream: IO[bytes]) -> int:
    """One `<sha256> <size>\\n<bytes>` object into the store; its hash must match."""
    words = header.decode("ascii", "replace").split()
    if not header.endswith(b"\n") or len(words) != 2 or not is_sha256(words[0]):
        raise SourceError("the stream ended or broke between objects (link lost?)")
    sha, size = words[0], int(words[1]) if words[1].isdigit() else -1
    if size < 0:
        raise SourceError("object %s has no size" % sha)
    temp = os.path.join(objects, ".%s.%d.tmp" % (sha, os.getpid()))
    digest = hashlib.sha256()
    with open(temp, "wb") as out:
        left = size
        while left:
            chunk = stream.read(min(left, CHUNK))
            if not chunk:
                out.close()
                os.unlink(temp)
                raise SourceError("the stream ended inside object %s (link lost?)" % sha)
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != sha:
        os.unlink(temp)
        raise SourceError("object %s arrived with another hash: discarded" % sha)
    os.chmod(temp, 0o444)  # linked into revisions: nobody edits the store through them
    os.replace(temp, os.path.join(objects, sha))
    return size


# --- revisions and the link -----------------------------------------------------------


def build_revision(root: str, manifest: Manifest) -> str:
    """R/.fleet/revisions/<rev>/ whole, or not at all (built aside, renamed into place)."""
    final = os.path.join(revisions_dir(root), manifest.rev)
    if os.path.isdir(final):
        return final
    temp = os.path.join(revisions_dir(root), ".%s.%d.tmp" % (manifest.rev, os.getpid()))
    shutil.rmtree(temp, ignore_errors=True)
    ensure_dir(temp)
    objects = os.path.join(root, OBJECTS_DIR)
    for name in manifest.services:
        ensure_dir(os.path.join(temp, "services", name))
    for entry in manifest.entries:
        path = os.path.join(temp, *entry["path"].split("/"))
        ensure_dir(os.path.dirname(path))
        if entry["type"] == "symlink":
            os.symlink(entry["target"], path)
        else:
            _place(os.path.join(objects, entry["sha256"]), path, entry["mode"] == 0o755)
    with open(os.path.join(temp, MANIFEST_NAME), "wb") as out:
        out.write(manifest.data)
    try:
        os.rename(temp, final)
    except OSError:
        if not os.path.isdir(final):
            raise
        shutil.rmtree(temp, ignore_errors=True)  # another receive built it meanwhile
    return final


def _place(obj: str, path: str, executable: bool) -> None:
    """Hard-link the object (0444); an executable, or where links fail, is a copy."""
    if not executable:
        try:
            os.link(obj, path)
            return
        except OSError:
            pass
    shutil.copyfile(obj, path)
    os.chmod(path, 0o555 if executable else 0o444)


def refuse_if_running(root: str) -> None:
    from remote.run.lock import holder_running

    holder = holder_running(os.path.join(root, LOCK_FILE))
    if holder is not None:
        raise SourceError(
            "run %s is going on this host: R/repo not switched" % holder.get("run_id", "?")
        )


def switch(root: str, repo: str, rev: str) -> Optional[str]:
    """Point `repo` at the revision with one rename. A real folder there (a host that
    was on git) is moved aside first, never deleted; its new name is returned."""
    moved = None
    if os.path.isdir(repo) and not os.path.islink(repo):
        moved = "%s.before-push-%s" % (repo, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        os.rename(repo, moved)
    ensure_dir(os.path.dirname(repo))
    target = os.path.relpath(os.path.join(revisions_dir(root), rev), os.path.dirname(repo))
    temp = "%s.%d.tmp" % (repo, os.getpid())
    if os.path.lexists(temp):
        os.unlink(temp)
    os.symlink(target, temp)
    os.replace(temp, repo)
    return moved


def prune(root: str, current: str) -> List[str]:
    """Keep the newest KEEP_REVISIONS, the current one and every one a release names;
    remove the objects only removed revisions used. Returns the removed revisions."""
    folder = revisions_dir(root)
    revs = [n for n in os.listdir(folder) if not n.startswith(".")]
    revs.sort(key=lambda n: os.stat(os.path.join(folder, n)).st_mtime, reverse=True)
    keep = set(revs[:KEEP_REVISIONS]) | {current} | _named_by_releases(root, revs)
    gone = [n for n in revs if n not in keep]
    if not gone:
        return []
    used = set()  # type: Set[str]
    for name in keep:
        used |= _revision_hashes(folder, name)
    stale = set()  # type: Set[str]
    for name in gone:
        stale |= _revision_hashes(folder, name)
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    for sha in stale - used:
        try:
            os.unlink(os.path.join(root, OBJECTS_DIR, sha))
        except OSError:
            pass
    return gone


def _named_by_releases(root: str, revs: List[str]) -> Set[str]:
    """Revisions whose name appears in a release record (whatever key holds it)."""
    folder = os.path.join(root, STATE_DIR, "releases")
    named = set()  # type: Set[str]
    try:
        names = os.listdir(folder)
    except OSError:
        return named
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name), "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            continue
        named |= set(rev for rev in revs if rev in text)
    return named


def _revision_hashes(folder: str, rev: str) -> Set[str]:
    try:
        with open(os.path.join(folder, rev, MANIFEST_NAME), "rb") as handle:
            return Manifest(handle.read()).hashes()
    except (OSError, SourceError):
        return set()


def answer_line(answer: Dict[str, Any]) -> str:
    return ANSWER_MARKER + dumps(answer) + "\n"
