"""Old runner versions on this host: keep the one running and the one before it.

Every runner version the controller uploads stays in R/.fleet as its archive
(fleet-runner-<sha16>.pyz) and, from its first start, its unpacked copy (.d/). A run
removes the older ones when it starts (docs/internals.md, "Files on a host"): one
listdir of R/.fleet, and a removal only when there is something to remove.
"""

from __future__ import annotations

import os

from remote.protocol import FLEET_DIR, RUNNER_LINK

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

PREFIX = "fleet-runner-"
ARCHIVE = ".pyz"
UNPACKED = ".d"
HASH_LENGTH = 16
HEX = frozenset("0123456789abcdef")
# A version's folder is renamed to this before it is removed, so the controller's guard
# (`test -f UNPACKED/__main__.py`) never finds half a folder; a leftover is removed later.
DOOMED = ".d.old-"


def version_of(name: str) -> Optional[str]:
    """The <sha16> of `fleet-runner-<sha16>.pyz` or `.d`, else None (the link, an upload's
    or an unpack's temp file: those belong to someone at work)."""
    if not name.startswith(PREFIX):
        return None
    digest, suffix = (
        name[len(PREFIX) : len(PREFIX) + HASH_LENGTH],
        name[len(PREFIX) + HASH_LENGTH :],
    )
    if len(digest) != HASH_LENGTH or not HEX.issuperset(digest):
        return None
    return digest if suffix in (ARCHIVE, UNPACKED) else None


def running_version(path: Optional[str] = None) -> Optional[str]:
    """The version this code was loaded from: a path component of this module's real path
    names the archive or its unpacked copy. None when run from a source tree."""
    here = os.path.realpath(path or __file__)
    for part in here.split(os.sep):
        digest = version_of(part)
        if digest:
            return digest
    return None


def prune_runners(root: str, current: Optional[str]) -> List[str]:
    """Remove the runner versions older than the newest one before `current` (by their
    archives' mtime); return the removed <sha16>s. `current`, the one
    R/.fleet/fleet-runner.pyz points at and any uploaded after `current` (another
    controller at work) always stay. Called under the run lock, so no other run uses a
    removed version. Without a known `current` (a runner started from a source tree)
    nothing is removed."""
    if current is None:
        return []
    fleet = os.path.join(root, FLEET_DIR)
    try:
        names = os.listdir(fleet)
    except OSError:
        return []
    versions = _versions(fleet, names)
    if current not in versions:
        return []
    linked = _linked_version(root)
    older = sorted(
        (v for v in versions if versions[v] < versions[current] and v != linked),
        key=versions.__getitem__,
    )
    doomed = older[:-1] if linked in (None, current) else older
    for digest in doomed:
        _remove_version(fleet, digest)
    _remove_leftovers(fleet, names)
    return doomed


def _versions(fleet: str, names: List[str]) -> Dict[str, float]:
    """Each version in R/.fleet and its age: its archive's mtime (its folder's when only
    the folder is left)."""
    found: Dict[str, float] = {}
    for name in names:
        digest = version_of(name)
        if digest is None:
            continue
        try:
            mtime = os.lstat(os.path.join(fleet, name)).st_mtime
        except OSError:
            continue
        if name.endswith(ARCHIVE) or digest not in found:
            found[digest] = mtime
    return found


def _linked_version(root: str) -> Optional[str]:
    try:
        return version_of(os.path.basename(os.readlink(os.path.join(root, RUNNER_LINK))))
    except OSError:
        return None


def _remove_version(fleet: str, digest: str) -> None:
    import shutil

    base = os.path.join(fleet, PREFIX + digest)
    try:
        os.unlink(base + ARCHIVE)
    except OSError:
        pass  # already gone, or only its folder was left
    doomed = "%s%s%d" % (base, DOOMED, os.getpid())
    try:
        os.rename(base + UNPACKED, doomed)
    except OSError:
        return  # never unpacked, or another run got there first
    shutil.rmtree(doomed, ignore_errors=True)


def _remove_leftovers(fleet: str, names: List[str]) -> None:
    """Folders an earlier removal renamed but could not finish removing."""
    leftovers = [name for name in names if name.startswith(PREFIX) and DOOMED in name]
    if leftovers:
        import shutil

        for name in leftovers:
            shutil.rmtree(os.path.join(fleet, name), ignore_errors=True)
