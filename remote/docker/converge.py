"""Is a service already what `up` would make it? Then deploy costs it one inspection.

compose recreates a container when its config hash differs from the container's
`com.docker.compose.config-hash` label, or when its image reference now names another
image. Rather than ask compose for the hashes again (a second compose start per service),
deploy compares the fingerprint of this run's merged configuration (configs.py) with the
one recorded the last time `up` succeeded, together with the hashes compose then gave the
containers (R/.fleet/converged.json, a cache: without it, `up` runs). The engine's
listing (engine_api.py) says whether the containers still carry them. Anything not
known for sure (no fingerprint, no record, no engine socket) means: run `up`.
"""

from __future__ import annotations

import os

from remote.docker import engine_api
from remote.kit import jsonio
from remote.kit.atomic import atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

RECORD_FILE = os.path.join(".fleet", "converged.json")


def why_not_current(
    hashes: Dict[str, str],
    containers: List[Dict[str, Any]],
    image_id: Optional[Callable[[str], Optional[str]]] = None,
) -> Optional[str]:
    """None when every compose service runs with its config and image; else why not."""
    if not hashes:
        return "no config hashes"
    image_id = image_id or engine_api.image_id
    seen = set()
    for container in containers:
        service = container.get("Service")
        if service not in hashes:
            return "orphan container %s" % container.get("Name")
        seen.add(service)
        if container.get("State") != "running":
            return "%s is %s" % (container.get("Name"), container.get("State"))
        if container.get("ConfigHash") != hashes[service]:
            return "the configuration of %s changed" % service
        reference = str(container.get("Image", ""))
        if reference.startswith("sha256:") or image_id(reference) != container.get("ImageID"):
            return "the image of %s changed" % service
    missing = sorted(set(hashes) - seen)
    if missing:
        return "no container for %s" % ", ".join(missing)
    return None


def is_current(
    root: str, name: str, fingerprint: Optional[str], compose_command: List[str]
) -> bool:
    """True only when the engine confirms project `name` runs what was recorded for
    exactly this configuration."""
    if not engine_api.serves(compose_command):
        return False
    hashes = recorded_hashes(root, name, fingerprint)
    projects = engine_api.compose_containers()
    if hashes is None or projects is None:
        return False
    return why_not_current(hashes, projects.get(name, [])) is None


def recorded_hashes(root: str, name: str, fingerprint: Optional[str]) -> Optional[Dict[str, str]]:
    """The config hashes `up` gave project `name`'s containers when it last succeeded with
    exactly this configuration; None when that is not known."""
    known = _read(root).get(name)
    if fingerprint is None or not isinstance(known, dict):
        return None
    hashes = known.get("hashes")
    if known.get("fingerprint") != fingerprint or not isinstance(hashes, dict):
        return None
    return hashes


def forget(root: str, name: str) -> None:
    """Before `up`: whatever it leaves behind if it fails is not what was recorded."""
    record = _read(root)
    if record.pop(name, None) is not None:
        _write(root, record)


def remember(root: str, name: str, fingerprint: Optional[str], compose_command: List[str]) -> None:
    """After `up` succeeded: the fingerprint, and the hashes compose gave the containers."""
    if fingerprint is None or not engine_api.serves(compose_command):
        return
    projects = engine_api.compose_containers() or {}
    hashes = {
        str(c["Service"]): str(c["ConfigHash"])
        for c in projects.get(name, [])
        if c.get("Service") and c.get("ConfigHash")
    }
    if hashes:
        record = _read(root)
        record[name] = {"fingerprint": fingerprint, "hashes": hashes}
        _write(root, record)


def _read(root: str) -> Dict[str, Any]:
    return jsonio.read_object(os.path.join(root, RECORD_FILE)) or {}


def _write(root: str, record: Dict[str, Any]) -> None:
    try:  # a cache: losing it (no fsync) only costs the next run an `up`
        data = jsonio.dumps(record).encode("utf-8")
        atomic_write(os.path.join(root, RECORD_FILE), data, durable=False)
    except OSError:
        pass
