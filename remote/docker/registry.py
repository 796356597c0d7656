"""Does the registry hold another image than the host's? Asked through the host's own
engine (its credentials, its network: `GET /distribution/<ref>/json`, bounded), so nothing
is pulled; for `fleet outdated`, and for `fleet plan` where a deploy would pull.
"""

from __future__ import annotations

from remote.docker import engine_api

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

DOCKER_HUB = "registry-1.docker.io"
ASK_S = 5.0
SILENT = "no answer within %ds" % ASK_S
NOT_PULLED = "the host's image was built or imported here, not pulled from a registry"
NO_SOCKET = "the Docker engine's socket cannot be asked here"


def split_reference(image: str) -> Tuple[str, str, str]:
    """`[registry/]repo[:tag]` as (registry, repository, tag), Docker's rules: the first
    part names a registry only if it has a dot or a colon or is localhost."""
    name, tag = image, "latest"
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag
    if "/" not in name:
        name = "library/" + name
    return DOCKER_HUB, name, tag


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry
    return host.startswith("127.") or host == "localhost" or host.startswith("[::1]")


def _challenge_params(text: str) -> List[Tuple[str, str]]:
    pairs = []
    for part in text.split(","):
        key, _, value = part.strip().partition("=")
        pairs.append((key.strip(), value.strip().strip('"')))
    return pairs


def check_digest(image: str, known: Dict[Any, Any]) -> Dict[str, Any]:
    """state (current, update or unknown), local_digest, registry_digest and reason of one
    image. `known`: each registry that did not answer in time (its other images are not
    asked again: a dead link costs ASK_S once, not once per image)."""
    if "@" in image:
        digest = image.rpartition("@")[2]
        return _check("current", digest, digest, None)
    local, why_local = local_digests(image)
    if why_local in (NOT_PULLED, NO_SOCKET):  # no registry knows it, or none can be asked
        return _check("unknown", None, None, why_local)
    registry = split_reference(image)[0]
    remote, why_remote = (None, known[registry]) if registry in known else registry_digest(image)
    if remote is None and SILENT in str(why_remote):
        known[registry] = why_remote
    if remote is None or local is None:
        return _check("unknown", local[0] if local else None, remote, why_remote or why_local)
    return _check("current" if remote in local else "update", local[0], remote, None)


def _check(state: Any, local: Any, remote: Any, reason: Any) -> Dict[str, Any]:
    return {"state": state, "local_digest": local, "registry_digest": remote, "reason": reason}


def local_digests(image: str) -> Tuple[Optional[List[str]], Optional[str]]:
    """The host's image's registry digests, those of its own name first."""
    asked, found = engine_api.image(image)
    if not asked:
        return None, NO_SOCKET
    if found is None:
        return None, "the image is not on the host"
    name = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    entries = [str(e) for e in found.get("RepoDigests") or []]
    own = [e for e in entries if name.endswith(e.rpartition("@")[0])]
    digests = [e.rpartition("@")[2] for e in own + entries]
    if not digests:
        return None, NOT_PULLED
    return digests, None


def registry_digest(image: str) -> Tuple[Optional[str], Optional[str]]:
    status, body = engine_api.request(
        "/distribution/%s/json" % engine_api._quote(image), timeout=ASK_S
    )
    if status is None:
        return None, "the Docker engine gave %s" % SILENT
    descriptor = body.get("Descriptor") if isinstance(body, dict) else None
    if status == 200 and isinstance(descriptor, dict) and descriptor.get("digest"):
        return str(descriptor["digest"]), None
    message = body.get("message") if isinstance(body, dict) else None
    return None, "the registry did not tell its digest: %s" % (message or "HTTP %d" % status)


def pull_check(
    image: str, policy: str, local: Optional[Dict[str, Any]], known: Dict[Any, Any]
) -> Tuple[Optional[str], Dict[str, Any]]:
    """Why a deploy would pull the image under this policy (None: it would not), and what
    `fleet plan` says of its digest. `local`: the host's inspection of it (None: absent).
    The registry is asked only where the policy pulls an image the host has (`always`);
    the entry says why it was asked or not."""
    entry = dict(_check(None, None, None, None), policy=policy, asked=False)
    skipped = _not_asked(image, policy, local)
    if skipped is not None:
        return skipped[0], dict(entry, why=skipped[1])
    entry.update(check_digest(image, known), why="pull policy always: a deploy pulls it")
    entry["asked"] = entry["reason"] not in (NOT_PULLED, NO_SOCKET)
    if entry["state"] == "update":
        return "the registry has another image (%s)" % entry["registry_digest"][:19], entry
    if entry["state"] == "unknown":
        return "may pull (%s)" % entry["reason"], entry
    return None, entry


def _not_asked(
    image: str, policy: str, local: Optional[Dict[str, Any]]
) -> Optional[Tuple[Optional[str], str]]:
    """(why a deploy would pull, why the registry is not asked); None: ask it."""
    if policy == "never":
        return None, "pull policy never: a deploy does not pull it"
    if local is not None and "unknown" in local:
        return str(local["unknown"]), "the host's images could not be listed"
    if local is None:
        return "absent from the host", "absent from the host: any pull brings it"
    if "@sha256:" in image:
        return None, "pinned by digest: a pull brings the same image"
    if policy == "refresh":
        why = "its pull_policy pulls on a schedule, not at each deploy"
        return "may pull (its pull_policy refreshes it on a schedule)", why
    if policy != "always":
        return None, "pull policy %s: a deploy does not pull an image the host has" % policy
    return None
