"""Does the registry hold another image than the host's? (for `fleet plan` under `always`)

Asks the registry's HTTP API v2 for the tag's manifest digest (HEAD, bounded timeout) and
compares it with the image's RepoDigests; never pulls. Plain HTTP only for loopback
registries (as dockerd itself allows), HTTPS for every other.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

DOCKER_HUB = "registry-1.docker.io"
TIMEOUT_S = 5.0
# What `docker pull` accepts, so the digest is the one it would record in RepoDigests.
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


class RegistryUnknown(Exception):
    """The registry did not answer in a way that tells the digest."""


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


def remote_digest(image: str, timeout: float = TIMEOUT_S) -> str:
    """The digest the registry gives the image's tag; RegistryUnknown if it will not say."""
    registry, repo, tag = split_reference(image)
    scheme = "http" if is_loopback(registry) else "https"
    url = "%s://%s/v2/%s/manifests/%s" % (scheme, registry, repo, tag)
    headers = {"Accept": ACCEPT}
    status, answer = _head(url, headers, timeout)
    if status == 401:
        token = _anonymous_token(answer.get("www-authenticate", ""), repo, timeout)
        headers["Authorization"] = "Bearer " + token
        status, answer = _head(url, headers, timeout)
    digest = answer.get("docker-content-digest", "")
    if status != 200 or not digest:
        raise RegistryUnknown("%s answered HTTP %d" % (registry, status))
    return digest


def _head(url: str, headers: Dict[str, str], timeout: float) -> Tuple[int, Dict[str, str]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers, method="HEAD")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}
    except (OSError, ValueError) as exc:
        raise RegistryUnknown(str(getattr(exc, "reason", exc))) from None


def _anonymous_token(challenge: str, repo: str, timeout: float) -> str:
    """A pull token from the registry's token service (Docker Hub's way), no credentials."""
    import urllib.parse
    import urllib.request

    from remote.kit.jsonio import loads

    if not challenge.lower().startswith("bearer "):
        raise RegistryUnknown("the registry wants credentials")
    params = dict(_challenge_params(challenge[7:]))
    realm = params.pop("realm", "")
    if not realm.startswith("https://"):
        raise RegistryUnknown("the registry wants credentials")
    params.setdefault("scope", "repository:%s:pull" % repo)
    url = realm + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            data = loads(response.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise RegistryUnknown("no token: %s" % exc) from None
    token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryUnknown("no token from %s" % realm)
    return token


def _challenge_params(text: str) -> List[Tuple[str, str]]:
    pairs = []
    for part in text.split(","):
        key, _, value = part.strip().partition("=")
        pairs.append((key.strip(), value.strip().strip('"')))
    return pairs


def digest_differs(image: str, repo_digests: List[str]) -> Optional[str]:
    """Why `always` would bring another image, None when it would not; RegistryUnknown
    when the registry cannot tell."""
    digest = remote_digest(image)
    if any(entry.endswith("@" + digest) for entry in repo_digests):
        return None
    if not repo_digests:
        return "the local image was not pulled from the registry"
    return "the registry has another image (%s)" % digest[:19]
