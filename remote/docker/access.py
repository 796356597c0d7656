"""Can this user reach the Docker daemon? Checked before a run changes anything.

A user outside the docker group gets `permission denied while trying to connect to the
Docker daemon socket` from every compose call; said once, up front, with what to do, it is
a failure an operator fixes in one command instead of a puzzle per service.
"""

from __future__ import annotations

import os

from remote.kit.dockercmd import user_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Sequence

DOCKER_SOCKET = "/var/run/docker.sock"
# The controller recognises this failure by these words (controller/events.py).
NO_DOCKER_ACCESS = "cannot reach the Docker daemon"


def docker_problem(compose_command: Sequence[str]) -> Optional[str]:
    """Why this user cannot use the local Docker socket, or None (also when the compose
    command is not Docker's, or DOCKER_HOST points elsewhere: compose will say)."""
    if not compose_command or not os.path.basename(compose_command[0]).startswith("docker"):
        return None
    if os.environ.get("DOCKER_HOST") or not os.path.exists(DOCKER_SOCKET):
        return None
    if os.access(DOCKER_SOCKET, os.R_OK | os.W_OK):
        return None
    user = user_name()
    return (
        "user %s %s: permission denied on %s (add %s to the docker group: usermod -aG docker %s)"
        % (
            user,
            NO_DOCKER_ACCESS,
            DOCKER_SOCKET,
            user,
            user,
        )
    )
