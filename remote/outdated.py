"""`fleet outdated` on the host: each image's registry digest, asked through the engine,
and newer tags of the same form; nothing pulled or written (docs/internals.md)."""

from __future__ import annotations

import os

from remote.docker import compose, configs
from remote.docker.images import parse_needs
from remote.docker.redact import scrubber_for
from remote.docker.registry import (
    ASK_S,
    NOT_PULLED,
    _challenge_params,
    check_digest,
    is_loopback,
    split_reference,
)
from remote.kit import jsonio, procs
from remote.run.job import Job

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

COMPOSE_S = 60.0
MAX_TAGS_BYTES = 1 << 20
MAX_NEWER = 10  # the newest ones; the registry has the rest
VERSION = r"^(v?)(\d+(?:\.\d+)*)(-[0-9A-Za-z._-]+)?$"  # 1.2.3, v2.4, 16-alpine


def outdated(root: str, job: Job) -> Dict[str, Any]:
    scrub = scrubber_for(root, job.services)
    judged: Dict[str, Dict[str, Any]] = {}
    known: Dict[Any, Any] = {}
    items: List[Dict[str, Any]] = []
    for name in job.services:
        config, problem = _config(root, job, name)
        if problem is not None:
            items.append(_item(name, None, reason=scrub(problem)))
            continue
        for need in parse_needs(config, job.pull):
            if need.policy == "build":
                continue  # built on the host: no registry has it
            if need.image not in judged:
                judged[need.image] = judge(need.image, known)
            items.append(dict(judged[need.image], service=name, image=need.image))
    return {"host": job.host, "images": items}


def _config(root: str, job: Job, name: str) -> Tuple[str, Optional[str]]:
    files = compose.service_files(root, job.repo, name)
    if files.definition is None:
        return "", "service %s has no compose file in %s" % (name, files.service_dir)
    argv = configs.json_argv(job.compose_command, files)
    shown = procs.run(argv, min(job.timeouts["compose_s"], COMPOSE_S), files.service_dir)
    if not shown.ok:
        return "", "compose config failed: %s" % shown.reason()
    return shown.stdout, None


def _item(service: str, image: Optional[str], **fields: Any) -> Dict[str, Any]:
    item: Dict[str, Any] = {"service": service, "image": image, "state": "unknown"}
    item.update(local_digest=None, registry_digest=None, newer=[], reason=None)
    item.update(fields)
    return item


def judge(image: str, known: Dict[Any, Any]) -> Dict[str, Any]:
    """The digest question (remote.docker.registry.check_digest), then the newer tags;
    `known` also holds each repository's tags."""
    item = _item("", image, **check_digest(image, known))
    registry, repo, tag = split_reference(image)
    if "@" in image or item["reason"] == NOT_PULLED or version_form(tag) is None:
        return item
    if (registry, repo) not in known:
        known[(registry, repo)] = known.get(registry) or list_tags(registry, repo)
    tags = known[(registry, repo)]
    if isinstance(tags, list):
        item["newer"] = newer_tags(tag, tags)
    elif item["reason"] is None:
        item["reason"] = "newer tags unknown: %s" % tags
    return item


def version_form(tag: str) -> Optional[Tuple[str, int, str, Tuple[int, ...]]]:
    """(prefix, how many numbers, suffix, the numbers), or None: not a version."""
    import re  # only here: the runner's start-up does without it

    found = re.match(VERSION, tag)
    if found is None:
        return None
    numbers = tuple(int(n) for n in found.group(2).split("."))
    return found.group(1), len(numbers), found.group(3) or "", numbers


def newer_tags(tag: str, tags: List[Any]) -> List[str]:
    mine = version_form(tag)
    if mine is None:
        return []
    newer = []
    for other in tags:
        form = version_form(str(other))
        if form is not None and form[:3] == mine[:3] and form[3] > mine[3]:
            newer.append((form[3], str(other)))
    return [name for _, name in sorted(newer)[-MAX_NEWER:]]


def list_tags(registry: str, repo: str) -> Any:
    """The registry's tags of repo (a list), or why they are unknown (a str)."""
    scheme = "http" if is_loopback(registry) else "https"
    url = "%s://%s/v2/%s/tags/list" % (scheme, registry, repo)
    basic = _credentials(registry)
    status, headers, body = _get(url, {})
    if status == 401:
        challenge = headers.get("www-authenticate", "")
        if challenge.lower().startswith("bearer "):
            token = _token(challenge[7:], repo, basic)
            auth = "Bearer " + token if token else None
        else:
            auth = "Basic " + basic if basic else None
        if auth is None:
            return "the registry wants credentials"
        status, headers, body = _get(url, {"Authorization": auth})
    try:
        tags = jsonio.loads(body.decode("utf-8")).get("tags") if status == 200 else None
    except (ValueError, AttributeError):
        tags = None
    return tags if isinstance(tags, list) else "the registry answered %s" % status


def _get(url: str, headers: Dict[str, str]) -> Tuple[Any, Dict[str, str], bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=ASK_S) as answer:  # noqa: S310
            body = answer.read(MAX_TAGS_BYTES)
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, body
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, b""
    except (OSError, ValueError) as exc:
        return "nothing (%s)" % getattr(exc, "reason", exc), {}, b""


def _token(challenge: str, repo: str, basic: Optional[str]) -> Optional[str]:
    import urllib.parse

    params = dict(_challenge_params(challenge))
    realm = params.pop("realm", "")
    if not realm.startswith(("https://", "http://127.", "http://localhost")):
        return None  # credentials go to an https (or loopback) token service only
    params.setdefault("scope", "repository:%s:pull" % repo)
    headers = {"Authorization": "Basic " + basic} if basic else {}
    status, _, body = _get(realm + "?" + urllib.parse.urlencode(params), headers)
    try:
        data = jsonio.loads(body.decode("utf-8")) if status == 200 else {}
    except ValueError:
        return None
    token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) and token else None


def _credentials(registry: str) -> Optional[str]:
    """The base64 user:password of the docker config's `auths` for the registry."""
    folder = os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")
    try:
        with open(os.path.join(folder, "config.json")) as handle:
            auths = jsonio.loads(handle.read()).get("auths") or {}
    except (OSError, ValueError, AttributeError):
        return None
    hub = registry == "registry-1.docker.io"
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        host = key.split("://", 1)[-1].split("/", 1)[0]
        if (host == registry or (hub and host == "index.docker.io")) and isinstance(entry, dict):
            auth = entry.get("auth")
            return auth if isinstance(auth, str) and auth else None
    return None
