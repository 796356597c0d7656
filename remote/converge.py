"""Is a service already what `up` would make it? Then deploy costs it one inspection.

compose decides to recreate a container when its config hash (the merged definition,
override and .env) differs from the container's `com.docker.compose.config-hash` label, or
when its image reference now names another image. validate already ran compose's own
`config --hash`; the engine's listing (remote/engine.py) says the rest. Anything not
known for sure (no hashes, no engine socket) means: run `up`, as before.
"""

from __future__ import annotations

from remote import engine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional


def parse_hashes(output: str) -> Dict[str, str]:
    """`config --hash '*'` prints one `service hash` line per compose service."""
    hashes: Dict[str, str] = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) == 2 and len(words[1]) >= 32:
            hashes[words[0]] = words[1]
    return hashes


def why_not_current(
    hashes: Dict[str, str],
    containers: List[Dict[str, Any]],
    image_id: Callable[[str], Optional[str]] = engine.image_id,
) -> Optional[str]:
    """None when every compose service runs with its config and image; else why not."""
    if not hashes:
        return "no config hashes"
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


def is_current(name: str, hashes: Optional[Dict[str, str]], compose_command: List[str]) -> bool:
    """True only when the engine confirms project `name` is exactly as configured."""
    if not hashes or not engine.serves(compose_command):
        return False
    projects = engine.compose_containers()
    if projects is None:
        return False
    return why_not_current(hashes, projects.get(name, [])) is None
