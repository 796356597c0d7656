"""The images a service's merged config names (only image, pull_policy and build are
kept: environment values never are), and what the engine behind the compose_command
(docker, or podman) knows of an image on this host.
"""

from __future__ import annotations

import os

from remote.docker import engine_api
from remote.kit import jsonio, procs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

# compose's spellings of the policies, as fleet's three words (and build).
POLICY_WORDS = {
    "always": "always",
    "missing": "missing",
    "if_not_present": "missing",
    "never": "never",
    "build": "build",
}


class Need(object):
    """One image a fleet service needs, with the policy that applies to it."""

    def __init__(self, image: str, policy: str, services: List[str], build: bool) -> None:
        self.image = image
        self.policy = policy  # always | missing | never | build
        self.services = services  # the compose services that use it
        self.build = build


def engine_command(compose_command: List[str]) -> List[str]:
    """The engine CLI behind a compose command: podman for podman compose, else docker."""
    first = os.path.basename(compose_command[0]) if compose_command else ""
    return ["podman"] if first.startswith("podman") else ["docker"]


def parse_needs(config_json: str, default_policy: str) -> List[Need]:
    """The images of `config --format json` output; a service's own pull_policy wins."""
    text = config_json.strip()
    if not text:
        return []  # a compose_command that prints nothing (the bench's /bin/true)
    config = jsonio.loads(text)
    services = config.get("services") if isinstance(config, dict) else None
    needs: Dict[str, Need] = {}
    for name, service in sorted((services or {}).items()):
        if not isinstance(service, dict):
            continue
        build = bool(service.get("build"))
        image = service.get("image") or ("%s-%s" % (config.get("name", ""), name))
        policy = POLICY_WORDS.get(str(service.get("pull_policy") or ""), default_policy)
        if build and not service.get("pull_policy"):
            policy = "build"
        if not build and not service.get("image"):
            continue
        need = needs.get(image)
        if need is None:
            needs[image] = Need(str(image), policy, [name], build)
        else:
            need.services.append(name)
    return list(needs.values())


class Local(object):
    """What the engine knows of an image on this host."""

    def __init__(self, digest: Optional[str], size: Optional[int]) -> None:
        self.digest = digest
        self.size = size


def inspect(engine_cli: List[str], image: str, timeout: float) -> Optional[Local]:
    """The image as the host has it, or None when it is not on the host. Docker's own
    socket answers in ~1 ms where `docker image inspect` starts the CLI (~30 ms)."""
    if engine_cli == ["docker"]:
        asked, found = engine_api.image(image)
        if asked:
            return _local(found.get("RepoDigests"), found.get("Size")) if found else None
    fmt = "{{json .RepoDigests}}\t{{.Size}}"
    result = procs.run([*engine_cli, "image", "inspect", "--format", fmt, image], timeout)
    if not result.ok:
        return None
    digests, _, size = result.stdout.strip().partition("\t")
    try:
        parsed = jsonio.loads(digests)
    except ValueError:
        parsed = []
    return _local(parsed, int(size) if size.isdigit() else None)


def _local(digests: Any, size: Any) -> Local:
    digest = None
    for item in digests if isinstance(digests, list) else []:
        digest = str(item).rpartition("@")[2] or None
        break
    return Local(digest, size if isinstance(size, int) else None)


def local_images(images: List[str], timeout: float) -> Dict[str, Dict[str, Any]]:
    """`docker image inspect` of each image the host has; absent ones are left out."""
    if not images:
        return {}
    found: Dict[str, Dict[str, Any]] = {}
    res = procs.run(["docker", "image", "inspect", *images], timeout)
    if not res.ok and "no such image" not in res.stderr.lower():
        # docker itself did not answer (absent, no access): nothing is known to be present.
        why = "may pull (docker image inspect failed: %s)" % res.reason()
        return {image: {"unknown": why} for image in images}
    try:
        listed = jsonio.loads(res.stdout) if res.stdout.strip() else []
    except ValueError:
        listed = []
    for entry in listed if isinstance(listed, list) else []:
        names = set(entry.get("RepoTags") or []) | set(entry.get("RepoDigests") or [])
        for image in images:
            if image in names or _normal(image) in names or entry.get("Id") == image:
                found[image] = entry
    return found


def _normal(image: str) -> str:
    """How docker lists an image named without a tag or with docker.io/library/."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if image.startswith(prefix):
            image = image[len(prefix) :]
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else image + ":latest"
