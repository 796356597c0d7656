"""Releases: what each completed run left running, and the rollback that brings it back.

A release record (R/state/deploy/releases/<run_id>.json) names the source revision the
definitions came from and, per service, the image ID and compose config hash of each of
its containers. A rollback deploys a record again: definitions exported from that
revision (the host's checkout is never moved), images pinned by ID, no network.
"""

from __future__ import annotations

import os

from remote.docker import compose, engine_api
from remote.kit import procs
from remote.kit.atomic import atomic_write, ensure_dir, write_json
from remote.kit.jsonio import read_object
from remote.protocol import FLEET_DIR, STATE_DIR
from remote.run.revisions import revisions_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Set

    from remote.run.context import Context

RELEASES_DIR = STATE_DIR + "/releases"
LAST_GOOD_FILE = STATE_DIR + "/last_good"
# The target of a rollback run, written when it starts: a resume rolls back to the same one.
TARGET_NAME = "rollback_target"
EXPORTS_DIR = FLEET_DIR + "/releases"  # R/.fleet/releases/<run_id>/: a rollback's files
KEEP = 10
# Images of kept releases are tagged so that `docker image prune` (dangling) keeps them
# when their own tag has moved on.
TAG_REPOSITORY = "fleet-release/"


class RollbackError(Exception):
    """The rollback cannot go on; the message says why and what to do."""


# --- records -------------------------------------------------------------------------


def releases_dir(root: str) -> str:
    return os.path.join(root, RELEASES_DIR)


def list_releases(root: str) -> List[Dict[str, Any]]:
    """Every readable release record, newest first (run ids sort by time)."""
    folder = releases_dir(root)
    try:
        names = sorted((n for n in os.listdir(folder) if n.endswith(".json")), reverse=True)
    except OSError:
        return []
    records = []
    for name in names:
        record = read_release(root, name[: -len(".json")])
        if record is not None:
            records.append(record)
    return records


def read_release(root: str, run_id: str) -> Optional[Dict[str, Any]]:
    return read_object(os.path.join(releases_dir(root), run_id + ".json"))


def last_good(root: str) -> Optional[str]:
    try:
        with open(os.path.join(root, LAST_GOOD_FILE)) as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def record_release(ctx: Context, started: str, finished: str) -> str:
    """Write this run's release and last_good; keep the newest KEEP. Returns the path."""
    job = ctx.job
    target = rollback_target(ctx)
    _list_unlisted(ctx)
    record: Dict[str, Any] = {
        "run_id": job.run_id,
        "host": job.host,
        "kind": "rollback" if target else job.kind,
        "started": started,
        "finished": finished,
        "revision": _target_revision(ctx, target) if target else source_revision(job.repo),
        "rollback_of": target,
        "services": {name: service_images(ctx, name) for name in job.services},
    }
    newest = list_releases(ctx.root)[:1]
    folder = releases_dir(ctx.root)
    ensure_dir(folder)
    path = os.path.join(folder, job.run_id + ".json")
    write_json(path, record)
    atomic_write(os.path.join(ctx.root, LAST_GOOD_FILE), (job.run_id + "\n").encode())
    _tag_images(record, newest[0] if newest else None, ctx.timeout("compose_s"))
    _prune(ctx.root, ctx.timeout("compose_s"))
    return path


def _list_unlisted(ctx: Context) -> None:
    """One engine listing for the services verify did not list (those with a
    healthcheck.sh): `compose ps` would start compose once per service."""
    job = ctx.job
    if engine_api.serves(job.compose_command) and any(
        n not in ctx.containers for n in job.services
    ):
        listing = engine_api.compose_containers()
        if listing is not None:
            for name in job.services:
                ctx.containers.setdefault(name, listing.get(name, []))


def source_revision(repo: str) -> Dict[str, Optional[str]]:
    """Where the definitions came from: a git commit, a pushed revision, or nothing known."""
    if os.path.islink(repo):
        target = os.path.realpath(repo)
        return {"source": "push", "id": os.path.basename(target.rstrip("/")), "path": target}
    if os.path.exists(os.path.join(repo, ".git")):
        head = procs.run(["git", "-C", repo, "rev-parse", "HEAD"], 20)
        if head.ok:
            return {"source": "git", "id": head.stdout.strip(), "path": repo}
    # A plain folder has no revision to go back to: its release pins images only.
    return {"source": None, "id": None, "path": repo}


def _target_revision(ctx: Context, target: str) -> Any:
    record = read_release(ctx.root, target) or {}
    return record.get("revision")


def service_images(ctx: Context, name: str) -> Dict[str, Dict[str, str]]:
    """{compose service: {"image": ID, "config_hash": HASH}} of project `name`, from
    verify's listing when it made one (no extra command), else from compose."""
    containers = ctx.containers.get(name)
    if containers is None:
        containers, _ = compose.list_containers(
            ctx.job.compose_command, name, ctx.timeout("compose_s")
        )
    found: Dict[str, Dict[str, str]] = {}
    for container in containers:
        labels = compose.labels_of(container.get("Labels"))
        service = str(container.get("Service") or labels.get(compose.SERVICE_LABEL) or "")
        image = labels.get(compose.IMAGE_LABEL) or _image_of(container, ctx.timeout("compose_s"))
        if service and image:
            found[service] = {"image": image, "config_hash": labels.get(compose.HASH_LABEL, "")}
    return found


def _image_of(container: Dict[str, Any], timeout: float) -> Optional[str]:
    """The image ID of a container, for composes that do not label it (older than 2.2x)."""
    ident = container.get("ID")
    if not ident:
        return None
    result = procs.run(["docker", "inspect", "--format", "{{.Image}}", str(ident)], timeout)
    return result.stdout.strip() or None if result.ok else None


def release_tag(service: str, compose_service: str, image: str) -> str:
    """`fleet-release/<svc>.<compose service>:<12 hex of the image ID>`, lower case as
    Docker wants: named by the image, so a release that keeps an image tags nothing."""
    short = image.split(":", 1)[-1][:12]
    return "%s%s.%s:%s" % (TAG_REPOSITORY, service.lower(), compose_service.lower(), short)


def _tags(record: Dict[str, Any]) -> Dict[str, str]:
    """{tag: image} of every image a record names."""
    tags: Dict[str, str] = {}
    for service, images in (record.get("services") or {}).items():
        for compose_service, info in (images or {}).items():
            image = str((info or {}).get("image") or "")
            if image:
                tags[release_tag(service, compose_service, image)] = image
    return tags


def _tag_images(record: Dict[str, Any], previous: Optional[Dict[str, Any]], timeout: float) -> None:
    """Tag the images this release names that the release before it did not (its tags
    stand: they are named by image)."""
    known = _tags(previous or {})
    for tag, image in _tags(record).items():
        if tag not in known and not engine_api.tag(image, tag):
            procs.run(["docker", "tag", image, tag], timeout)


def _prune(root: str, timeout: float) -> None:
    """Drop records past the newest KEEP, their exported files, and the tags no kept
    release names."""
    records = list_releases(root)
    kept: Set[str] = set()
    for record in records[:KEEP]:
        kept.update(_tags(record))
    for record in records[KEEP:]:
        import shutil  # only here: it imports re and enum, ~10 ms of a runner's start

        for tag in _tags(record):
            if tag not in kept:
                _untag(tag, timeout)
                kept.add(tag)  # once is enough
        run_id = str(record.get("run_id"))
        os.unlink(os.path.join(releases_dir(root), run_id + ".json"))
        shutil.rmtree(export_dir(root, run_id), ignore_errors=True)


def _untag(tag: str, timeout: float) -> None:
    """Remove fleet's tag only where the image has another name: `docker image rm` of an
    image's last tag deletes the image, and fleet never removes an image."""
    names = procs.run(["docker", "image", "inspect", "--format", "{{len .RepoTags}}", tag], timeout)
    if names.ok and names.stdout.strip().isdigit() and int(names.stdout.strip()) > 1:
        procs.run(["docker", "image", "rm", "--no-prune", tag], timeout)


# --- rollback ------------------------------------------------------------------------


def choose_target(root: str, requested: Optional[str], previous_run: Optional[str]) -> str:
    """The release to roll back to: `requested`, else the newest one before what runs now
    (last_good if the previous run did not complete as it, else the one before it)."""
    releases = [str(r.get("run_id")) for r in list_releases(root)]
    if requested:
        if requested not in releases:
            raise RollbackError(
                "no release %s on this host (releases: %s)"
                % (requested, ", ".join(releases) or "none")
            )
        return requested
    current = last_good(root)
    if current is not None and previous_run == current and current in releases:
        releases = releases[releases.index(current) + 1 :]
    if not releases:
        raise RollbackError(
            "no earlier release to roll back to (a release is recorded when a run completes)"
        )
    return releases[0]


def choose_for(ctx: Context, previous: Optional[Dict[str, Any]]) -> str:
    """A fresh rollback's target, from its plan and `previous` (the summary of the run
    before it); raises RollbackError when there is none."""
    requested = ctx.job.raw.get("rollback_to")
    if requested is not None and not isinstance(requested, str):
        raise RollbackError("plan key 'rollback_to' must be a run id, not %r" % (requested,))
    previous_run = (previous or {}).get("run_id")
    return choose_target(
        ctx.root,
        requested,
        previous_run if isinstance(previous_run, str) else None,
    )


def begin(ctx: Context, target: Optional[str]) -> None:
    """Once the state is set up: a fresh rollback remembers its target in the state
    folder; any run (a resumed one too) is a rollback while that file is there."""
    path = os.path.join(ctx.state.dir, TARGET_NAME)
    if target is not None:
        atomic_write(path, (target + "\n").encode())
    if os.path.exists(path):
        ctx.rollback = True
        target = rollback_target(ctx)
        if target is not None:
            ctx.release_files = lambda name: service_files(ctx, target, name)


def rollback_target(ctx: Context) -> Optional[str]:
    """The run id this run rolls back to; None when it is not a rollback (or has none)."""
    try:
        with open(os.path.join(ctx.state.dir, TARGET_NAME)) as handle:
            word = handle.read().strip()
    except OSError:
        return None
    return word or None


def prepare(ctx: Context) -> str:
    """Export the target release's definitions and write its image pins. No network."""
    target = rollback_target(ctx)
    if target is None:
        raise RollbackError("the rollback's target is not recorded: run fleet rollback again")
    record = read_release(ctx.root, target)
    if record is None:
        raise RollbackError("the release record of %s is missing or unreadable" % target)
    repo = _export(ctx, target, record.get("revision") or {})
    pins = _write_pins(ctx, target, record.get("services") or {})
    return "rolling back to release %s: definitions from %s, %d services pinned" % (
        target,
        repo,
        pins,
    )


def export_dir(root: str, target: str) -> str:
    return os.path.join(root, EXPORTS_DIR, target)


def repo_for(ctx: Context, target: str) -> str:
    """Where the target release's definitions are read from."""
    record = read_release(ctx.root, target) or {}
    revision = record.get("revision") or {}
    if revision.get("source") == "push":
        return os.path.join(revisions_dir(ctx.root), str(revision.get("id")))
    return os.path.join(export_dir(ctx.root, target), "repo")


def _export(ctx: Context, target: str, revision: Dict[str, Any]) -> str:
    source = revision.get("source")
    repo = repo_for(ctx, target)
    if source == "push":
        if not os.path.isdir(repo):
            raise RollbackError("the pushed revision %s of release %s is gone" % (repo, target))
        return repo
    if source != "git":
        raise RollbackError(
            "release %s came from a plain folder (%s): there is no revision to go back to"
            % (target, revision.get("path"))
        )
    if not os.path.isdir(repo):
        _git_export(str(revision.get("path")), str(revision.get("id")), repo, ctx)
    return repo


def _git_export(checkout: str, commit: str, dest: str, ctx: Context) -> None:
    """`git archive COMMIT services` into dest, whole or not at all (local objects only)."""
    import shutil
    import tarfile

    parent = os.path.dirname(dest)
    ensure_dir(parent)
    temp = dest + ".tmp"
    shutil.rmtree(temp, ignore_errors=True)
    os.makedirs(temp)
    archive = temp + ".tar"
    argv = ["git", "-C", checkout, "archive", "--format=tar", "-o", archive, commit, "services"]
    result = procs.run(argv, ctx.timeout("git_pull_s"))
    if not result.ok:
        raise RollbackError(
            "cannot export commit %s from %s: %s" % (commit, checkout, result.reason())
        )
    with tarfile.open(archive) as tar:
        tar.extractall(temp)  # noqa: S202 - our own git's archive of our own repo
    os.unlink(archive)
    os.rename(temp, dest)


def _write_pins(ctx: Context, target: str, services: Dict[str, Any]) -> int:
    """One compose file per service (JSON is YAML) that sets each image to its ID."""
    folder = os.path.join(export_dir(ctx.root, target), "pins")
    ensure_dir(folder)
    pinned = 0
    for name in ctx.job.services:
        images = services.get(name) or {}
        if not images:
            continue
        body = {
            "services": {
                compose_service: {"image": info["image"], "pull_policy": "never"}
                for compose_service, info in images.items()
            }
        }
        write_json(pin_path(ctx.root, target, name), body)
        pinned += 1
    return pinned


def pin_path(root: str, target: str, name: str) -> str:
    return os.path.join(export_dir(root, target), "pins", name + ".json")


def service_files(ctx: Context, target: str, name: str) -> compose.ServiceFiles:
    """The target release's files for `name`, its image pins added as the last -f.
    .env and override are the host's current ones: config lives in R/config, not in
    the repo, and a secret rotated since then must not come back."""
    files = compose.service_files(ctx.root, repo_for(ctx, target), name)
    pins = pin_path(ctx.root, target, name)
    files.pins = pins if os.path.isfile(pins) else None
    return files
