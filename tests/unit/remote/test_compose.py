"""Compose argv and what compose's `ps` output means."""

from __future__ import annotations

import json

from remote.docker import compose
from remote.docker.compose import ServiceFiles

FILES = ServiceFiles(
    "web",
    "/R/repo/services/web",
    "/R/repo/services/web/compose.yaml",
    "/R/config/web/docker-compose.override.yml",
    "/R/config/web/.env",
    None,
)


def test_up_argv_with_override_and_env() -> None:
    """-p, the definition, the override as a second -f, --env-file, then up."""
    assert compose.up_argv(["podman", "compose"], FILES) == [
        "podman", "compose", "-p", "web",
        "-f", "/R/repo/services/web/compose.yaml",
        "-f", "/R/config/web/docker-compose.override.yml",
        "--env-file", "/R/config/web/.env",
        "up", "-d", "--remove-orphans", "--pull", "never",
    ]  # fmt: skip


def test_config_argv_is_quiet() -> None:
    """config never prints the merged file (it would carry .env values)."""
    assert compose.config_argv(["docker", "compose"], FILES)[-2:] == ["config", "--quiet"]


def test_logs_and_ps_argv() -> None:
    """Diagnostics ask for the last lines without colour; verify asks ps for JSON."""
    assert compose.logs_argv(["docker", "compose"], FILES, 50)[-4:] == [
        "logs", "--no-color", "--tail", "50",
    ]  # fmt: skip
    assert compose.ps_json_argv(["docker", "compose"], "web") == [
        "docker", "compose", "-p", "web", "ps", "-a", "--format", "json",
    ]  # fmt: skip


def test_parse_containers_handles_lines_and_arrays() -> None:
    """compose v2 prints one JSON object per line; some versions one array."""
    one, two = {"Name": "a", "State": "running"}, {"Name": "b", "State": "exited"}
    lines = json.dumps(one) + "\n" + json.dumps(two) + "\n"
    assert compose.parse_containers(lines) == [one, two]
    assert compose.parse_containers(json.dumps([one, two])) == [one, two]
    assert compose.parse_containers("  \n") == []


def test_container_problem_running_healthy_and_not() -> None:
    """running (no healthcheck) and healthy pass; anything else says what it is."""
    assert compose.container_problem({"Name": "a", "State": "running", "Health": ""}) is None
    assert compose.container_problem({"Name": "a", "State": "running", "Health": "healthy"}) is None
    starting = {"Name": "a", "State": "running", "Health": "starting"}
    assert compose.container_problem(starting) == "a is starting"
    exited = {"Name": "a", "State": "exited", "Status": "Exited (1) 3 seconds ago"}
    assert compose.container_problem(exited) == "a is Exited (1) 3 seconds ago"


def test_health_read_from_docker_ps_status() -> None:
    """`docker ps` JSON has no Health key: it is read from Status."""
    up = {"Names": "a", "State": "running", "Status": "Up 3 seconds (unhealthy)"}
    assert compose.container_health(up) == "unhealthy"
    up["Status"] = "Up 1 second (health: starting)"
    assert compose.container_health(up) == "starting"
    up["Status"] = "Up 1 second"
    assert compose.container_health(up) == ""
