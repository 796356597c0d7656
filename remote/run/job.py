"""The runner's job (services, settings, run id): load, validate, save. On hosts and
the wire it is still "the plan" (R/.fleet/plan.json, --plan): a contract with hosts."""

from __future__ import annotations

import os

from remote.kit.atomic import ensure_dir, write_json
from remote.kit.jsonio import loads
from remote.protocol import (
    DEFAULT_TIMEOUTS,
    ON_FAILURE,
    PLAN_FILE,
    PLAN_VERSION,
    PULL_POLICIES,
    RUN_KINDS,
    SECRET_HASHES_KEY,
    SECRETS_KEY,
    SERVICE_NAME_PATTERN,
    SOURCES,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

# SERVICE_NAME_PATTERN spelled without re (the runner's start-up does without it).
NAME_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
NAME_REST = frozenset(NAME_FIRST + "._-")


class JobError(Exception):
    """The plan (the job as given) is missing, unreadable or invalid."""


class Job(object):
    """A validated job; `raw` is the plan JSON as given, saved unchanged."""

    def __init__(
        self,
        host: str,
        run_id: str,
        repo: str,
        services: List[str],
        compose_command: List[str],
        timeouts: Dict[str, float],
        raw: Dict[str, Any],
        pull: str = "missing",
        source: str = "git",
        kind: str = "deploy",
        become: Optional[str] = None,
        on_failure: str = "stop",
    ) -> None:
        self.host = host
        self.run_id = run_id
        self.repo = repo
        self.services = services
        self.compose_command = compose_command
        self.timeouts = timeouts
        self.raw = raw
        self.pull = pull  # missing | always | never
        self.source = source  # git | push
        self.kind = kind  # deploy | resume | rollback (the controller's word for the run)
        self.become = become  # sudo: see remote/kit/dockercmd.py
        # Never in `raw` (never saved): each service's .env text, and (preview) its sha256.
        self.secrets: Dict[str, str] = {}
        self.secret_hashes: Dict[str, str] = {}
        self.on_failure = on_failure  # stop | rollback (remote/run/autorollback.py)


def job_path(root: str) -> str:
    """R/.fleet/plan.json, where the job of the latest run is saved."""
    return os.path.join(root, PLAN_FILE)


def load_job(path: str, root: str) -> Job:
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except OSError as exc:
        raise JobError("cannot read the plan %s: %s" % (path, exc.strerror)) from None
    return parse_job(text, root)


def parse_job(text: str, root: str) -> Job:
    try:
        raw = loads(text)
    except ValueError as exc:
        raise JobError("the plan is not valid JSON: %s" % exc) from None
    if not isinstance(raw, dict):
        raise JobError("the plan must be a JSON object")
    if raw.get("version") != PLAN_VERSION:
        raise JobError("plan version %r is not %d" % (raw.get("version"), PLAN_VERSION))
    secrets = _texts(raw.pop(SECRETS_KEY, {}), SECRETS_KEY)
    hashes = _texts(raw.pop(SECRET_HASHES_KEY, {}), SECRET_HASHES_KEY)
    job = Job(
        host=_text(raw, "host"),
        run_id=_text(raw, "run_id"),
        repo=_repo(raw, root),
        services=_services(raw.get("services")),
        compose_command=_compose_command(raw.get("compose_command", ["docker", "compose"])),
        timeouts=_timeouts(raw.get("timeouts", {})),
        raw=raw,
        pull=_word(raw, "pull", PULL_POLICIES),
        source=_word(raw, "source", SOURCES),
        kind=_word(raw, "kind", RUN_KINDS),
        become=_become(raw.get("become")),
        on_failure=_word(raw, "on_failure", ON_FAILURE),
    )
    strays = sorted(set(secrets) - set(job.services))
    if strays:
        raise JobError("plan has secrets for services it does not list: %s" % ", ".join(strays))
    job.secrets, job.secret_hashes = secrets, hashes
    return job


def _texts(value: Any, key: str) -> Dict[str, str]:
    """A service -> text object (secrets, secret_hashes); the message never shows a value."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise JobError("plan key %r must map service names to strings" % key)
    return dict(value)


def _become(value: Any) -> Optional[str]:
    if value is None or value == "sudo":
        return "sudo" if value else None
    raise JobError("plan key 'become' must be sudo or null")


def save_job(root: str, job: Job) -> None:
    path = job_path(root)
    ensure_dir(os.path.dirname(path))
    write_json(path, job.raw)


def _text(raw: Dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise JobError("plan key %r must be a non-empty string" % key)
    return value


def _word(raw: Dict[str, Any], key: str, choices: Tuple[str, ...]) -> str:
    """An optional key with a fixed set of values; absent means the first."""
    value = raw.get(key, choices[0])
    if value not in choices:
        raise JobError("plan key %r must be one of %s, not %r" % (key, ", ".join(choices), value))
    return str(value)


def _repo(raw: Dict[str, Any], root: str) -> str:
    repo = raw.get("repo")
    if repo is None:
        return os.path.join(root, "repo")
    if not isinstance(repo, str) or not repo:
        raise JobError("plan key 'repo' must be a path")
    return repo


def is_service_name(name: str) -> bool:
    """SERVICE_NAME_PATTERN, whole: a letter or digit, then letters, digits, . _ -."""
    return bool(name) and name[0] in NAME_FIRST and all(c in NAME_REST for c in name)


def _services(value: Any) -> List[str]:
    if not isinstance(value, list) or not value:
        raise JobError("plan key 'services' must be a non-empty list")
    for name in value:
        if not isinstance(name, str) or not is_service_name(name):
            raise JobError("service name %r is not %s" % (name, SERVICE_NAME_PATTERN))
    if len(set(value)) != len(value):
        raise JobError("plan lists a service twice")
    return list(value)


def _compose_command(value: Any) -> List[str]:
    if isinstance(value, str):
        import shlex  # only for a plan written by hand with a string

        value = shlex.split(value)
    argv = value
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise JobError("plan key 'compose_command' must be a non-empty list of strings")
    return list(argv)


def _timeouts(value: Any) -> Dict[str, float]:
    if not isinstance(value, dict):
        raise JobError("plan key 'timeouts' must be an object")
    timeouts: Dict[str, float] = dict(DEFAULT_TIMEOUTS)
    for key, seconds in value.items():
        if key not in DEFAULT_TIMEOUTS:
            raise JobError("unknown timeout %r (known: %s)" % (key, ", ".join(DEFAULT_TIMEOUTS)))
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise JobError("timeout %r must be a positive number of seconds" % key)
        timeouts[key] = seconds
    return timeouts
