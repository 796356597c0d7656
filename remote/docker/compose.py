"""Compose operations as argv: where a service's files are, and what compose says."""

from __future__ import annotations

import os

from remote.docker import envlink
from remote.kit import jsonio, procs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

# compose.yaml wins over docker-compose.yml when both exist (as compose itself prefers).
DEFINITION_NAMES = ("compose.yaml", "docker-compose.yml")
OVERRIDE_NAME = "docker-compose.override.yml"
ENV_NAME = ".env"
HEALTHCHECK_NAME = "healthcheck.sh"
# The labels compose puts on its containers.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
HASH_LABEL = "com.docker.compose.config-hash"
IMAGE_LABEL = "com.docker.compose.image"  # the image ID (compose v2)
# How a compose without a flag says so (docker-compose v1, podman-compose).
UNKNOWN_FLAG_WORDS = ("unknown flag", "no such option", "unrecognized")


def labels_of(value: Any) -> Dict[str, str]:
    """A container's labels: a dict from docker, one `k=v,k=v` string from `ps --format
    json` (a value with a comma, like config_files, leaves pieces without `=`, which are
    not the keys wanted here)."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    pairs = (piece.split("=", 1) for piece in str(value or "").split(",") if "=" in piece)
    return {key: val for key, val in pairs}


class ServiceFiles(object):
    """A service's files on the host; None where the file does not exist."""

    def __init__(
        self,
        name: str,
        service_dir: str,  # R/repo/services/<svc>
        definition: Optional[str],
        override: Optional[str],
        env_file: Optional[str],
        healthcheck: Optional[str],
        repo_env: Optional[str] = None,  # services/<svc>/.env when the repo has its own
    ) -> None:
        self.name = name
        self.service_dir = service_dir
        self.definition = definition
        self.override = override
        self.env_file = env_file
        self.healthcheck = healthcheck
        self.repo_env = repo_env
        self.pins: Optional[str] = None  # a rollback's image pins, the last -f


def service_files(root: str, repo: str, name: str) -> ServiceFiles:
    service_dir = os.path.join(repo, "services", name)
    config_dir = os.path.join(root, "config", name)
    return ServiceFiles(
        name=name,
        service_dir=service_dir,
        definition=_first_file(service_dir, DEFINITION_NAMES),
        override=_first_file(config_dir, (OVERRIDE_NAME,)),
        env_file=_first_file(config_dir, (ENV_NAME,)),
        healthcheck=_first_file(service_dir, (HEALTHCHECK_NAME,)),
        repo_env=envlink.repo_env(service_dir),
    )


def _first_file(directory: str, names: Tuple[str, ...]) -> Optional[str]:
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def project_argv(compose_command: List[str], files: ServiceFiles) -> List[str]:
    """`<compose> -p <svc> -f <def> [-f <override>] [--env-file <.env>]`."""
    argv = [*list(compose_command), "-p", files.name]
    if files.definition:
        argv += ["-f", files.definition]
        if files.override:
            argv += ["-f", files.override]
        if files.pins:
            argv += ["-f", files.pins]
    # Given --env-file, compose no longer reads the folder's own .env: pass it first, so
    # the repo's defaults still interpolate and R/config's values win over them.
    for env_file in (files.repo_env, files.env_file):
        if env_file:
            argv += ["--env-file", env_file]
    return argv


def up_argv(compose_command: List[str], files: ServiceFiles) -> List[str]:
    argv = [*project_argv(compose_command, files), "up", "-d", "--remove-orphans"]
    return [*argv, "--pull", "never"]  # images come from prepare (or a rollback's pins)


def config_argv(compose_command: List[str], files: ServiceFiles) -> List[str]:
    # --quiet: config would otherwise print the merged file, .env values interpolated.
    return [*project_argv(compose_command, files), "config", "--quiet"]


def unknown_flag(stderr: str) -> bool:
    """How a compose without a flag says so (docker-compose v1, podman-compose)."""
    text = stderr.lower()
    return any(word in text for word in UNKNOWN_FLAG_WORDS)


def ps_json_argv(compose_command: List[str], name: str) -> List[str]:
    return [*list(compose_command), "-p", name, "ps", "-a", "--format", "json"]


def ps_table_argv(compose_command: List[str], name: str) -> List[str]:
    return [*list(compose_command), "-p", name, "ps", "-a"]


def docker_ps_argv(name: str) -> List[str]:
    """Fallback for composes without `ps --format json`: ask the engine by label."""
    label = "label=%s=%s" % (PROJECT_LABEL, name)
    return ["docker", "ps", "-a", "--filter", label, "--format", "{{json .}}"]


def logs_argv(compose_command: List[str], files: ServiceFiles, lines: int) -> List[str]:
    return [*project_argv(compose_command, files), "logs", "--no-color", "--tail", str(lines)]


def parse_containers(output: str) -> List[Dict[str, Any]]:
    """Containers from `ps --format json`: compose v2 prints one object per line, some
    versions one JSON array. Raises ValueError on anything else."""
    text = output.strip()
    if not text:
        return []
    if text.startswith("["):
        parsed = jsonio.loads(text)
        return [item for item in parsed if isinstance(item, dict)]
    return [jsonio.loads(line) for line in text.splitlines() if line.strip()]


def container_name(container: Dict[str, Any]) -> str:
    return str(container.get("Name") or container.get("Names") or container.get("ID") or "?")


def container_health(container: Dict[str, Any]) -> str:
    """healthy, unhealthy, starting, or "" when the container has no healthcheck."""
    health = container.get("Health")
    if isinstance(health, str) and health:
        return health.lower()
    import re  # only here: the runner's start-up does without it

    match = re.search(r"\((healthy|unhealthy|health: starting)\)", str(container.get("Status", "")))
    if not match:
        return ""
    return "starting" if match.group(1) == "health: starting" else match.group(1)


def container_problem(container: Dict[str, Any]) -> Optional[str]:
    """Why a container is not ready yet, or None when it is running and healthy."""
    state = str(container.get("State", "")).lower()
    if state != "running":
        status = container.get("Status") or state or "unknown"
        return "%s is %s" % (container_name(container), status)
    health = container_health(container)
    if health in ("", "healthy"):
        return None
    return "%s is %s" % (container_name(container), health)


def list_containers(
    compose_command: List[str], name: str, timeout: float
) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """The containers of project `name`, or an error saying why they cannot be listed.
    Asks compose first (works for podman compose too), then the Docker engine by label."""
    first = procs.run(ps_json_argv(compose_command, name), timeout)
    if first.ok:
        try:
            return parse_containers(first.stdout), None
        except ValueError:
            pass
    fallback = procs.run(docker_ps_argv(name), timeout)
    if fallback.ok:
        try:
            return parse_containers(fallback.stdout), None
        except ValueError:
            pass
    return [], "cannot list the containers of %s: %s" % (name, first.reason())


_PROJECT_START = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_PROJECT_CHARS = _PROJECT_START | frozenset("-_")


def accepted_project_name(name: str) -> Optional[str]:
    """None when compose accepts `name` as a project name, else the nearest name it does.

    compose's rule: lower-case letters, digits, '-' and '_', starting with a letter or
    a digit. Upper case is lowered; any other character ('.') becomes '-'."""
    if name and name[0] in _PROJECT_START and set(name) <= _PROJECT_CHARS:
        return None
    accepted = "".join(c if c in _PROJECT_CHARS else "-" for c in name.lower())
    return accepted.lstrip("-_") or None
