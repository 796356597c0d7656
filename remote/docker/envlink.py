"""Upstream compose files that say `env_file: .env` get the host's R/config/<svc>/.env.

compose resolves `env_file:` (and bind mounts, secret files, build contexts) against the
project directory, the folder of the first -f file: the service folder in the repo.
--project-directory would move every one of those paths, so instead the service folder
gets a symlink `.env` -> R/config/<svc>/.env: the secret stays in R/config, the link holds
none. In a git checkout the link is listed in .git/info/exclude (local, never committed),
so `git status` stays clean and `git pull` may replace it if upstream ever adds the file.
A `.env` that is a regular file belongs to the repo and is never touched.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

LINK_NAME = ".env"
EXCLUDE_COMMENT = "# fleet: a link to R/config/<svc>/.env, kept on this host only"

LINKED, UNLINKED, REPO_OWN, NOTHING = "linked", "unlinked", "repo-own", "nothing"


def link_env(service_dir: str, env_file: Optional[str]) -> str:
    """Make `<service_dir>/.env` a symlink to env_file (None: remove a stale link).

    Idempotent. Returns LINKED, UNLINKED (a stale link removed), REPO_OWN (the folder has
    a .env of its own, left alone) or NOTHING. Raises OSError when the folder cannot be
    changed (a read-only checkout)."""
    link = os.path.join(service_dir, LINK_NAME)
    is_link = os.path.islink(link)
    if not is_link and os.path.lexists(link):
        return REPO_OWN
    if env_file is None:
        if not is_link:
            return NOTHING
        os.unlink(link)
        return UNLINKED
    target = os.path.abspath(env_file)
    if not (is_link and os.readlink(link) == target):
        temp = "%s.fleet-%d" % (link, os.getpid())
        if os.path.lexists(temp):
            os.unlink(temp)
        os.symlink(target, temp)
        os.replace(temp, link)  # atomic: compose never sees the folder without its .env
    _exclude_from_git(service_dir)
    return LINKED


def missing_hint(service_dir: str, config_env: str, error: str) -> str:
    """When compose misses the .env beside the definition: where fleet takes it from."""
    if os.path.join(service_dir, LINK_NAME) + " not found" not in error:
        return ""
    return " (fleet links %s there: create that file on the host)" % config_env


def repo_env(service_dir: str) -> Optional[str]:
    """The service folder's own .env (a file of the repo, not fleet's link), if any."""
    path = os.path.join(service_dir, LINK_NAME)
    if os.path.isfile(path) and not os.path.islink(path):
        return path
    return None


def _exclude_from_git(service_dir: str) -> None:
    """List the link in the checkout's .git/info/exclude (a <repo>/services/<svc> folder)."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(service_dir)))
    git_dir = _git_dir(top)
    if git_dir is None:
        return
    pattern = "/" + os.path.relpath(os.path.join(service_dir, LINK_NAME), top).replace(os.sep, "/")
    exclude = os.path.join(git_dir, "info", "exclude")
    try:
        with open(exclude, "r") as handle:
            text = handle.read()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(exclude), exist_ok=True)
        text = ""
    if pattern in text.splitlines():
        return
    separator = "\n" if text and not text.endswith("\n") else ""
    with open(exclude, "a") as handle:
        handle.write("%s%s\n%s\n" % (separator, EXCLUDE_COMMENT, pattern))


def _git_dir(top: str) -> Optional[str]:
    """The git dir whose info/exclude governs `top`: .git, or the common dir of a worktree."""
    dot_git = os.path.join(top, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    if not os.path.isfile(dot_git):
        return None
    with open(dot_git, "r") as handle:
        first = handle.readline().strip()
    if not first.startswith("gitdir:"):
        return None
    git_dir = os.path.join(top, first[len("gitdir:") :].strip())
    common = os.path.join(git_dir, "commondir")
    if os.path.isfile(common):
        with open(common, "r") as handle:
            git_dir = os.path.join(git_dir, handle.read().strip())
    return os.path.normpath(git_dir)
