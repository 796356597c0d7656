"""`fleet plan` on the host: what a deploy of this plan would change, changing nothing.

Read-only by construction: no lock is taken (the holder is only read), nothing under
R/state, R/logs or R/.fleet/plan.json is written, and only read-only commands run:
`git fetch` (which updates R/repo/.git's remote-tracking refs, never the checkout),
`compose config` / `ps`, `docker image inspect` / `inspect`, and the engine's digest
question to a registry (remote.docker.registry: no pull). `compose config`'s output
holds .env values: it is read in memory to compare, and only key names leave this module.
"""

from __future__ import annotations

import os

from remote.docker import compose, configs, converge
from remote.docker.images import local_images
from remote.docker.redact import Scrubber, scrubber_for
from remote.docker.registry import pull_check
from remote.kit import jsonio, procs
from remote.protocol import LOCK_FILE
from remote.run.job import Job
from remote.run.secrets import env_hash

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

CREATE, RECREATE, UNCHANGED, INVALID = "create", "recreate", "unchanged", "invalid"
UNREACHABLE = "remote unreachable: the local checkout would be deployed"
DIVERGED = "diverged: the pull would fail"
# gc and maintenance would rewrite the repo's objects: not while only looking.
GIT = ["git", "-c", "gc.auto=0", "-c", "maintenance.auto=false"]
# config and ps read files and ask the engine: far below a deploy's compose_s.
COMPOSE_S = 60.0
# compose's pull_policy words as the host's policy words ("build": built, never pulled).
POLICY_WORDS = {"if_not_present": "missing", "missing": "missing", "always": "always"}
POLICY_WORDS.update({"never": "never", "build": "never"})


def preview(root: str, job: Job) -> Dict[str, Any]:
    """The host's plan as one JSON-ready object (docs/internals.md, `preview`)."""
    from remote.run.lock import holder_running

    result: Dict[str, Any] = {"host": job.host}
    result["running"] = holder_running(os.path.join(root, LOCK_FILE))
    scrub = scrubber_for(root, job.services)
    changes: Dict[str, List[str]] = {}
    if job.source == "push":
        result["git"] = {"state": "push", "message": "source: push: the host runs no git"}
        from remote import incoming

        result["push"] = incoming.push_preview(root, job)
        changes = incoming.incoming_for(root, job)
    else:
        result["git"] = git_preview(job.repo, job.timeouts["git_pull_s"])
    services = [_ServicePreview(root, job, name, scrub, changes.get(name)) for name in job.services]
    _judge_images(services, job)
    result["services"] = {s.name: s.report() for s in services}
    return result


# --- git -------------------------------------------------------------------------------


def git_preview(repo: str, timeout: float) -> Dict[str, Any]:
    """What `git pull --ff-only` would bring, after a `git fetch`."""
    if not os.path.isdir(repo):
        return {"state": "missing", "message": "no repo at %s" % repo}
    if not os.path.exists(os.path.join(repo, ".git")):
        message = "%s is not a git checkout: its files would be deployed as they are" % repo
        return {"state": "not_a_checkout", "message": message}
    fetch = procs.run([*GIT, "-C", repo, "fetch", "--quiet"], timeout)
    if not fetch.ok:
        detail = _without_credentials(fetch.reason())
        return {"state": "unreachable", "message": UNREACHABLE, "detail": detail}
    counts = procs.run([*GIT, "-C", repo, "rev-list", "--left-right", "--count", "HEAD...@{u}"], 30)
    if not counts.ok:
        message = "no upstream branch: the pull would fail, the local checkout would be deployed"
        return {"state": "no_upstream", "message": message, "detail": counts.reason()}
    ahead, behind = (int(n) for n in counts.stdout.split()[:2])
    if behind and ahead:
        return {"state": "diverged", "message": DIVERGED, "ahead": ahead, "behind": behind}
    if not behind:
        return {"state": "up_to_date", "message": "up to date", "commits": []}
    log = procs.run([*GIT, "-C", repo, "log", "--oneline", "--no-decorate", "HEAD..@{u}"], 30)
    commits = [_commit(line) for line in log.stdout.splitlines() if line.strip()]
    message = "the pull would bring %d commit%s" % (behind, "" if behind == 1 else "s")
    return {"state": "behind", "message": message, "commits": commits}


def _without_credentials(text: str) -> str:
    """A remote URL's user:token@ (git may quote its URL in an error) as ***@."""
    import re  # only here: the runner's start-up does without it

    return re.sub(r"://[^/@\s]+@", "://***@", text)


def _commit(line: str) -> Dict[str, str]:
    sha, _, subject = line.partition(" ")
    return {"sha": sha, "subject": subject}


# --- services --------------------------------------------------------------------------


class _ServicePreview(object):
    """One service: its merged config, its containers, and what `up` would do to them."""

    def __init__(
        self, root: str, job: Job, name: str, scrub: Scrubber, incoming: Optional[List[str]]
    ) -> None:
        self.name = name
        self.job_root = root
        self.incoming = incoming  # files a push would change first: not on the host yet
        self.job = job
        self.files = compose.service_files(root, job.repo, name)
        self.scrub = scrub  # every .env value of the host's services, as validate masks
        self.action = UNCHANGED
        self.reason: Optional[str] = None
        self.changes: List[str] = []
        self.orphans: List[str] = []
        self.stopped: List[str] = []  # unchanged containers that `up -d` would start
        self.images: Dict[str, str] = {}  # image -> why prepare would pull it
        self.digests: Dict[str, Dict[str, Any]] = {}  # image -> would a pull bring another
        self.config: Dict[str, Any] = {}  # compose service -> its merged definition
        self.containers: List[Dict[str, Any]] = []
        self.hashes: Dict[str, str] = {}  # compose service -> compose's config hash
        self.fingerprint: Optional[str] = None  # of the merged config, as deploy takes it
        self._inspect()

    def _timeout(self) -> float:
        return min(self.job.timeouts["compose_s"], COMPOSE_S)

    def _inspect(self) -> None:
        if self.incoming:
            return self._after_push(self.incoming)
        problem = self._load_config()
        if problem is not None:
            self.action, self.reason = INVALID, self.scrub(problem)
            return
        self.containers, error = compose.list_containers(
            self.job.compose_command, self.name, self._timeout()
        )
        if error is not None:
            self.reason = self.scrub(error)
        services = set(self.config)
        self.orphans = sorted(
            compose.container_name(c)
            for c in self.containers
            if services
            and compose.labels_of(c.get("Labels")).get(compose.SERVICE_LABEL) not in services
        )
        if not self.containers:
            self.action = CREATE
            self.reason = self.reason or "no containers of project %s yet" % self.name
        else:
            timeout = self._timeout()
            self.hashes = up_hashes(self.job_root, self.job, self.files, self.fingerprint, timeout)

    def _after_push(self, incoming: List[str]) -> None:
        """The files compose would read are not on the host yet: judge what can be judged
        without them (are there containers?) and say that the rest waits for the push."""
        self.containers, error = compose.list_containers(
            self.job.compose_command, self.name, self._timeout()
        )
        files = "%d file%s" % (len(incoming), "" if len(incoming) == 1 else "s")
        if not self.containers:
            self.action = CREATE
            self.reason = "after the push (%s): no containers of project %s yet" % (
                files,
                self.name,
            )
        else:
            self.action = RECREATE
            self.reason = "after the push (%s change): compose may recreate its containers" % files
        if error is not None:
            self.reason += "; " + self.scrub(error)

    def _load_config(self) -> Optional[str]:
        """compose's merged config; the problem when compose rejects it."""
        files = self.files
        if files.definition is None:
            names = " or ".join(compose.DEFINITION_NAMES)
            return "service %s has no %s in %s" % (self.name, names, files.service_dir)
        base = compose.project_argv(self.job.compose_command, files)
        shown = procs.run([*base, "config", "--format", "json"], self._timeout(), files.service_dir)
        if not shown.ok:
            return "service %s: compose config failed: %s" % (self.name, shown.reason())
        self.fingerprint = configs.Config(shown, shown.stdout).fingerprint
        try:
            parsed = jsonio.loads(shown.stdout) if shown.stdout.strip() else {}
        except ValueError:
            parsed = {}
        services = parsed.get("services") if isinstance(parsed, dict) else None
        self.config = services if isinstance(services, dict) else {}
        return None

    def judge(self, local: Dict[str, Dict[str, Any]], inspect: Callable[[str], Any]) -> None:
        """recreate or unchanged, once the local images are known (create/invalid stand)."""
        if self.action != UNCHANGED:
            return
        for svc, definition in sorted(self.config.items()):
            mine = [
                c
                for c in self.containers
                if compose.labels_of(c.get("Labels")).get(compose.SERVICE_LABEL) == svc
            ]
            why = _drift(definition, mine, self.hashes.get(svc), local, inspect)
            if why:
                self.changes.append("%s: %s" % (svc, why))
            else:
                self.stopped += [compose.container_name(c) for c in mine if not _running(c)]
        want = self.job.secret_hashes.get(self.name)
        if want is not None and env_hash(self.job_root, self.name) != want:
            self.changes.append("secret changed")
        if self.containers and self.config and not self.hashes:
            self.changes.append("compose did not give its config hashes: up may recreate")
        if self.changes:
            self.action = RECREATE
            self.reason = self.scrub("; ".join(self.changes))
        elif self.stopped:
            self.reason = "not running: up would start %s" % ", ".join(self.stopped)

    def report(self) -> Dict[str, Any]:
        return {
            "action": self.action,
            "images": sorted(self.images),
            "image_reasons": {image: why for image, why in sorted(self.images.items())},
            "image_digests": {image: entry for image, entry in sorted(self.digests.items())},
            "reason": self.reason,
            "changes": self.changes,
            "orphans": self.orphans,
            "stopped": self.stopped,
            "definition": self.files.definition,
        }


def _drift(
    definition: Dict[str, Any],
    mine: List[Dict[str, Any]],
    want_hash: Optional[str],
    local: Dict[str, Dict[str, Any]],
    inspect: Callable[[str], Any],
) -> Optional[str]:
    """Why one compose service's containers are not what `up` would leave (None: they
    are): none yet, another config hash than `want_hash`, or another image."""
    if not mine:
        return "no container yet (up would create it)"
    labels = compose.labels_of(mine[0].get("Labels"))
    image = local.get(str(definition.get("image", "")))
    if want_hash and labels.get(compose.HASH_LABEL) != want_hash:
        changed = changed_keys(definition, inspect(str(mine[0].get("ID", ""))), image)
        return "config changed: %s" % (", ".join(changed) or "compose's config hash differs")
    image_id = (image or {}).get("Id")
    if image_id and labels.get(compose.IMAGE_LABEL, image_id) != image_id:
        return "image: %s is another image on the host now" % definition.get("image")
    return None


def up_hashes(
    root: str, job: Job, files: compose.ServiceFiles, fingerprint: Optional[str], timeout: float
) -> Dict[str, str]:
    """The config hash per compose service that up-to-date containers carry. Deploy's
    record answers for the configuration it last brought up: compose's `config --hash`
    differs from the label `up` sets for a service with an env_file (compose v2.40),
    which would call every such service changed."""
    recorded = converge.recorded_hashes(root, files.name, fingerprint)
    if recorded is not None:
        return recorded
    argv = [*compose.project_argv(job.compose_command, files), "config", "--hash", "*"]
    hashed = procs.run(argv, timeout, files.service_dir)
    pairs = (line.split() for line in hashed.stdout.splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def _running(container: Dict[str, Any]) -> bool:
    return str(container.get("State", "")).lower() == "running"


# --- what changed (key names only: values may be secrets) --------------------------------


def changed_keys(
    definition: Dict[str, Any], container: Any, image: Optional[Dict[str, Any]]
) -> List[str]:
    """Which of image, command, entrypoint, environment and ports differ between the merged
    definition and a running container's `docker inspect`; environment as key names only
    (values may be secrets, and a command is named, never shown)."""
    if not isinstance(container, dict):
        return []
    config = container.get("Config") or {}
    changes = []
    if definition.get("image") and definition.get("image") != config.get("Image"):
        changes.append("image %s -> %s" % (config.get("Image"), definition.get("image")))
    for key, running in (("command", "Cmd"), ("entrypoint", "Entrypoint")):
        if definition.get(key) is not None and definition.get(key) != config.get(running):
            changes.append(key)
    env_keys = _env_changes(definition, config.get("Env") or [], image)
    if env_keys:
        changes.append("environment (%s)" % ", ".join(env_keys))
    host_config = container.get("HostConfig") or {}
    if _ports(definition) != _bound_ports(host_config.get("PortBindings") or {}):
        changes.append("ports")
    return changes


def _env_dict(entries: List[str]) -> Dict[str, str]:
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def _env_changes(
    definition: Dict[str, Any], running: List[str], image: Optional[Dict[str, Any]]
) -> List[str]:
    wanted = definition.get("environment") or {}
    if not isinstance(wanted, dict):
        return []
    have = _env_dict(running)
    from_image = _env_dict(((image or {}).get("Config") or {}).get("Env") or [])
    changed = [k for k, v in wanted.items() if v is not None and have.get(k) != v]
    gone = [k for k in have if k not in wanted and k not in from_image]
    return sorted(set(changed) | set(gone))


def _ports(definition: Dict[str, Any]) -> List[Tuple[str, str, str]]:
    ports = []
    for port in definition.get("ports") or []:
        if isinstance(port, dict) and port.get("published"):
            target = "%s/%s" % (port.get("target"), port.get("protocol") or "tcp")
            ports.append((str(port.get("host_ip") or ""), str(port["published"]), target))
    return sorted(ports)


def _bound_ports(bindings: Dict[str, Any]) -> List[Tuple[str, str, str]]:
    ports = []
    for target, binds in bindings.items():
        for bind in binds or []:
            ports.append((str(bind.get("HostIp") or ""), str(bind.get("HostPort")), target))
    return sorted(ports)


# --- images ----------------------------------------------------------------------------


def pull_policy(definition: Dict[str, Any], host_policy: str) -> str:
    """missing, always, never, or "refresh" (daily, weekly, every_N: may pull)."""
    own = definition.get("pull_policy")
    if not own:
        return host_policy
    return POLICY_WORDS.get(str(own), "refresh")


def _judge_images(services: List[_ServicePreview], job: Job) -> None:
    """Which images prepare would pull, then recreate/unchanged for every service."""
    wanted: Dict[str, List[Tuple[_ServicePreview, str]]] = {}
    for service in services:
        for definition in service.config.values():
            image = definition.get("image")
            if isinstance(image, str) and image:
                policy = pull_policy(definition, job.pull)
                wanted.setdefault(image, []).append((service, policy))
    local = local_images(sorted(wanted), COMPOSE_S)
    known: Dict[Any, Any] = {}  # the registry is asked once per image (and policy)
    for image, users in wanted.items():
        checked: Dict[str, Tuple[Optional[str], Dict[str, Any]]] = {}
        for service, policy in users:
            if policy not in checked:
                checked[policy] = pull_check(image, policy, local.get(image), known)
            why, service.digests[image] = checked[policy]
            if why:
                service.images[image] = why
    cache: Dict[str, Any] = {}

    def inspect(container_id: str) -> Any:
        if container_id not in cache:
            cache[container_id] = _inspect_container(container_id)
        return cache[container_id]

    for service in services:
        service.judge(local, inspect)


def _inspect_container(container_id: str) -> Any:
    if not container_id:
        return None
    res = procs.run(["docker", "inspect", "--type", "container", container_id], COMPOSE_S)
    try:
        listed = jsonio.loads(res.stdout) if res.ok else []
    except ValueError:
        return None
    return listed[0] if isinstance(listed, list) and listed else None
