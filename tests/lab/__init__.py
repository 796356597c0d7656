"""The local lab: real sshd hosts, dockerd and Compose v2; shared by tests, demo and bench."""

from tests.lab.docker import (
    BUSYBOX_IMAGE,
    LabUnavailable,
    busybox_compose,
    ensure_busybox_image,
    ensure_docker,
    project_container_ids,
    remove_compose_projects,
)
from tests.lab.hosts import Lab, LabError, LabHost

__all__ = [
    "BUSYBOX_IMAGE",
    "Lab",
    "LabError",
    "LabHost",
    "LabUnavailable",
    "busybox_compose",
    "ensure_busybox_image",
    "ensure_docker",
    "project_container_ids",
    "remove_compose_projects",
]
