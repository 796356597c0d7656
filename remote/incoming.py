"""What a push would bring to this host, read only (`fleet plan` of a `source: push` host):
the files the host's object store lacks, and per service the files that would change."""

from __future__ import annotations

import os

from remote.kit.words import plural
from remote.run.job import Job
from remote.run.revisions import current_revision, revisions_dir
from remote.source import MANIFEST_NAME, Manifest, SourceError, need

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List


def incoming_files(root: str, repo: str, manifest: Manifest) -> Dict[str, List[str]]:
    """Per service of `manifest`, the paths a push of it would add or change compared with
    the revision REPO points at now (every path when it points at none); services whose
    files would stay as they are have no key. Reads only: `fleet plan` asks it."""
    rev = current_revision(root, repo)
    now = {}  # type: Dict[str, Dict[str, Any]]
    if rev is not None and rev != manifest.rev:
        try:
            with open(os.path.join(revisions_dir(root), rev, MANIFEST_NAME), "rb") as handle:
                now = dict((e["path"], e) for e in Manifest(handle.read()).entries)
        except (OSError, SourceError):
            rev = None
    if rev == manifest.rev:
        return {}
    changed = {}  # type: Dict[str, List[str]]
    wanted = set()
    for entry in manifest.entries:
        wanted.add(entry["path"])
        if rev is None or now.get(entry["path"]) != entry:
            changed.setdefault(entry["path"].split("/")[1], []).append(entry["path"])
    for path in now:
        service = path.split("/")[1]
        if path not in wanted and service in manifest.services:
            changed.setdefault(service, []).append(path)  # removed by the push
    return changed


def push_preview(root: str, job: Job) -> Dict[str, Any]:
    """The files a push would send: those of the controller's manifest whose content the
    host's object store lacks (source-need's answer, which only reads)."""
    if job.raw.get("push_error"):
        return {"files": None, "note": "the push cannot be made: %s" % job.raw["push_error"]}
    manifest = job.raw.get("push_manifest")
    if not isinstance(manifest, str):
        return {"files": None, "note": "the controller sent no manifest"}
    try:
        checked = Manifest(manifest.encode("utf-8"))
        answer = need(root, job.repo, checked.data)
    except SourceError as exc:
        return {"files": None, "note": str(exc)}
    missing = set(answer["missing"])
    files = [e["path"] for e in checked.entries if e.get("sha256") in missing]
    if answer["current"]:
        note = "revision %s is current: nothing to send" % answer["rev"]
    else:
        note = "revision %s: %s to send" % (answer["rev"], plural(len(files), "file"))
    return {"files": files, "revision": answer["rev"], "current": answer["current"], "note": note}


def incoming_for(root: str, job: Job) -> Dict[str, List[str]]:
    """Per service, the files the push would change (incoming_files)."""
    manifest = job.raw.get("push_manifest")
    if job.raw.get("push_error") or not isinstance(manifest, str):
        return {}
    try:
        return incoming_files(root, job.repo, Manifest(manifest.encode("utf-8")))
    except SourceError:
        return {}
