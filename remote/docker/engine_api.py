"""The Docker Engine's own API over its unix socket: container listings for a few ms.

`docker compose ps` costs a host about 100 ms of CPU per call (a large Go binary starts);
the same listing from the engine's socket costs about 1 ms, so verify can poll every
service often and deploy can see that a service is already up to date. Where the socket
is not there or not ours (podman without its socket, a remote DOCKER_HOST, no permission)
every function returns None and the caller asks compose as before.

No http.client (it imports the email package): a plain HTTP/1.0 GET, read to EOF.
"""

from __future__ import annotations

import os
import time

from remote.docker.compose import HASH_LABEL, PROJECT_LABEL, SERVICE_LABEL
from remote.kit import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

DEFAULT_SOCKET = "/var/run/docker.sock"
TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a listing of thousands of containers is a few MB
DOCKER_COMMANDS = ("docker", "docker-compose")
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/:@")


def serves(compose_command: List[str]) -> bool:
    """Is the engine's socket the one this compose command talks to? Known only for
    Docker's own (`docker compose`, `docker-compose`); a wrapper or podman asks compose."""
    return bool(compose_command) and os.path.basename(compose_command[0]) in DOCKER_COMMANDS


def socket_path() -> Optional[str]:
    """The engine's unix socket, per DOCKER_HOST; None when it is not a local socket."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return None


def _quote(text: str) -> str:
    return "".join(c if c in _SAFE else "%%%02X" % ord(c) for c in text)


def get(path: str, timeout: float = TIMEOUT_S) -> Optional[Any]:
    """GET path from the engine; the decoded JSON, or None when it cannot be asked."""
    status, body = request(path, timeout)
    return body if status == 200 else None


def request(
    path: str, timeout: float = TIMEOUT_S, method: str = "GET"
) -> Tuple[Optional[int], Any]:
    """GET (or a POST without a body) path: (HTTP status, decoded JSON body); (None, None)
    when there is no engine to ask here (no local socket, no permission, no answer)."""
    where = socket_path()
    if where is None:
        return None, None
    # _socket, not socket: the wrapper module imports enum and selectors (~5 ms a start).
    import _socket

    # One deadline for the whole exchange: a socket timeout alone restarts at every
    # byte, so an engine that trickles its answer could hold the run for ever.
    deadline = time.monotonic() + timeout
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(where)
        asked = "%s %s HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n" % (method, path)
        sock.sendall(asked.encode("ascii"))
        chunks: List[bytes] = []
        size = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or size > MAX_ANSWER_BYTES:
                return None, None
            sock.settimeout(left)
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            size += len(data)
    except OSError:
        return None, None
    finally:
        sock.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None, None
    try:
        return int(parts[1]), jsonio.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return int(parts[1]), None


def compose_containers() -> Optional[Dict[str, List[Dict[str, Any]]]]:
    """Every compose container on the host, stopped ones too, by project; None if unknown."""
    filters = _quote(jsonio.dumps({"label": [PROJECT_LABEL]}))
    listing = get("/containers/json?all=1&filters=" + filters)
    if not isinstance(listing, list):
        return None
    projects: Dict[str, List[Dict[str, Any]]] = {}
    for item in listing:
        if isinstance(item, dict):
            labels = item.get("Labels") or {}
            projects.setdefault(str(labels.get(PROJECT_LABEL, "")), []).append(_container(item))
    return projects


def _container(item: Dict[str, Any]) -> Dict[str, Any]:
    """An API listing entry in the shape `compose ps --format json` gives (compose.py)."""
    names = item.get("Names") or []
    labels = item.get("Labels") or {}
    return {
        "Name": str(names[0]).lstrip("/") if names else str(item.get("Id", "?"))[:12],
        "State": item.get("State", ""),
        "Status": item.get("Status", ""),
        "Service": labels.get(SERVICE_LABEL, ""),
        "ConfigHash": labels.get(HASH_LABEL, ""),
        "Image": item.get("Image", ""),
        "ImageID": item.get("ImageID", ""),
        "ID": item.get("Id", ""),
        "Labels": dict(labels),
    }


def tag(image: str, reference: str) -> bool:
    """Tag an image (`docker tag IMAGE REPO:TAG`, without starting the CLI); False when
    the engine could not be asked here or said no, and the caller asks the CLI."""
    repo, _, name = reference.rpartition(":")
    query = "repo=%s&tag=%s" % (_quote(repo), _quote(name))
    status, _ = request("/images/%s/tag?%s" % (_quote(image), query), method="POST")
    return status == 201


def image_id(reference: str) -> Optional[str]:
    """The local image ID a reference names now; None when it is not on the host."""
    _, found = image(reference)
    return str(found["Id"]) if found and found.get("Id") else None


def image(reference: str) -> Tuple[bool, Optional[Dict[str, Any]]]:
    """(asked, the image's inspection or None when it is not on the host); asked is False
    when the engine could not be asked here, and the caller asks the docker CLI."""
    status, found = request("/images/%s/json" % _quote(reference))
    if status == 200 and isinstance(found, dict):
        return True, found
    if status == 404:
        return True, None
    return False, None
